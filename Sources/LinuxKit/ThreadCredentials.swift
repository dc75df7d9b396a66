import Glibc

/// Another user's effective IDs and groups on the calling thread alone,
/// for the length of one call. The kernel keeps credentials per thread;
/// glibc's setresuid and setgroups change every thread of the process,
/// so the raw system calls are used. Needs a root caller (its real and
/// saved IDs 0, so the effective ones come back); anyone else, or a
/// switch the kernel refuses, runs `body` as it is.
public enum ThreadCredentials {
    public static func asEffective<T>(uid: UInt32, gid: UInt32, groups: [UInt32], _ body: () throws -> T) rethrows -> T {
        let myGID = getegid()
        var ids: [uid_t] = [1, 1, 1]  // real, effective, saved
        let read = ids.withUnsafeMutableBufferPointer { p in
            Syscall.raw(NR.getresuid, Int(bitPattern: p.baseAddress), Int(bitPattern: p.baseAddress.map { $0 + 1 }), Int(bitPattern: p.baseAddress.map { $0 + 2 }))
        }
        // Root's effective ID comes back only with a real or saved ID of 0.
        guard read == 0, ids[1] == 0, ids[0] == 0 || ids[2] == 0,
              uid != 0 || gid != myGID else { return try body() }
        let ownGroups = currentGroups()
        guard setGroups(groups), Syscall.raw(NR.setresgid, -1, Int(gid), -1) == 0 else {
            _ = setGroups(ownGroups)
            return try body()
        }
        guard Syscall.raw(NR.setresuid, -1, Int(uid), -1) == 0 else {
            _ = Syscall.raw(NR.setresgid, -1, Int(myGID), -1)
            _ = setGroups(ownGroups)
            return try body()
        }
        // Back in this order: root's effective ID first, which gives back the
        // capabilities the group calls need.
        defer {
            _ = Syscall.raw(NR.setresuid, -1, 0, -1)
            _ = Syscall.raw(NR.setresgid, -1, Int(myGID), -1)
            _ = setGroups(ownGroups)
        }
        return try body()
    }

    private static func currentGroups() -> [UInt32] {
        let n = getgroups(0, nil)
        guard n > 0 else { return [] }
        var list = [gid_t](repeating: 0, count: Int(n))
        let got = getgroups(n, &list)
        return got < 0 ? [] : Array(list.prefix(Int(got)))
    }

    private static func setGroups(_ groups: [UInt32]) -> Bool {
        groups.withUnsafeBufferPointer { Syscall.raw(NR.setgroups, groups.count, Int(bitPattern: $0.baseAddress)) == 0 }
    }
}
