import CheckpointImage
import Glibc
import LinuxKit

extension TaskRestorer {
    /// The credentials of a process of one thread that lived in a user
    /// namespace of its own (UserNamespaceFactory). Its IDs go in first,
    /// outside, as the image has them (the checkpointer's view), where the
    /// restorer's privilege counts: supplementary groups (which a namespace
    /// whose setgroups is denied could not set), group, then user IDs with
    /// the permitted capabilities kept. Then it enters the namespace (setns,
    /// which needs CAP_SYS_ADMIN over it and gives every capability in it),
    /// and inside: the bounding set, file-system IDs through the maps, the
    /// saved capability sets and securebits, dumpable, no_new_privs.
    func restoreCredentials(entering ns: UserNamespaceEntry) throws -> [String] {
        var warnings: [String] = []
        let uids = process.uids, gids = process.gids, caps = process.capabilities
        guard uids.count >= 3, gids.count >= 3 else { throw CheckpointError(EINVAL, "image process \(process.pid) has no user and group IDs") }
        guard (uids + gids + process.groups).allSatisfy({ $0 <= UInt64(UInt32.max) }) else {
            throw CheckpointError(EINVAL, "image holds a user or group ID out of range")
        }
        // Opened while the stub may still read the restorer's descriptors.
        let opened = try session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), try session.putString("/proc/\(getpid())/fd/\(ns.descriptor)"),
                                     UInt64(O_RDONLY | O_CLOEXEC), 0)
        guard opened >= 0 else { throw CheckpointError(errno: Int32(-opened), "process \(process.pid): opening its user namespace") }
        defer { _ = try? session.raw(NR.close, UInt64(opened)) }
        if geteuid() == 0 {
            let g = try putSavedGroups()
            let r = try session.raw(NR.setgroups, g.count, g.at)
            if r < 0 { warnings.append("supplementary groups \(process.groups) not restored: \(errorText(Int32(-r)))") }
        }
        _ = try session.prctlRaw(.setKeepCaps, 1)
        if getegid() != gid_t(gids[1]) || getgid() != gid_t(gids[0]) || gids[2] != gids[1] {
            try session.call("setresgid", NR.setresgid, gids[0], gids[1], gids[2])
        }
        if geteuid() != uid_t(uids[1]) || getuid() != uid_t(uids[0]) || uids[2] != uids[1] {
            try session.call("setresuid", NR.setresuid, uids[0], uids[1], uids[2])
        }
        // A change of user ID empties the effective set: raised again from the permitted one kept.
        let all: UInt64 = (1 << UInt64(Self.lastCapability + 1)) - 1
        _ = try capset([0, all, all])
        let entered = try session.raw(NR.setns, UInt64(opened), CloneFlags.newUser)
        guard entered == 0 else { throw CheckpointError(errno: Int32(-entered), "process \(process.pid): entering its user namespace") }
        if caps.count == 5 {
            for cap in 0...Self.lastCapability where caps[3] & (1 << UInt64(cap)) == 0 {
                _ = try session.prctlRaw(.capBoundingDrop, UInt64(cap))
            }
        }
        // File-system IDs are set inside: through the maps.
        if gids.count >= 4 && gids[3] != gids[1] {
            if let inside = UserNamespaceState.inside(gids[3], in: ns.state.gidMap) { _ = try session.raw(NR.setfsgid, inside) }
        }
        if uids.count >= 4 && uids[3] != uids[1] {
            if let inside = UserNamespaceState.inside(uids[3], in: ns.state.uidMap) { _ = try session.raw(NR.setfsuid, inside) }
        }
        if caps.count == 5 { warnings += try restoreCapabilities(caps) } else { _ = try session.prctlRaw(.setKeepCaps, 0) }
        try restoreDumpableAndNoNewPrivs()
        return warnings
    }
}
