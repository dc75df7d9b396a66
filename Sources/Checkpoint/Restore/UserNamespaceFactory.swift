import CheckpointImage
import Glibc
import LinuxKit

/// The image's user namespaces, made again before the stubs: a child of
/// the restorer takes the owner's user ID, unshares a user namespace and
/// waits while the restorer writes setgroups and the ID maps, and is gone
/// (its PID free again for the image) once the restorer holds the namespace
/// by a descriptor. The network, IPC and UTS namespaces that belong to one
/// are made inside it the same way (`make(kind:)`); the processes enter it
/// last, with their credentials (UserNamespaceCredentials), since only
/// from outside can their stubs' and their children's PIDs be chosen. One
/// that cannot be made (a user's restart whose maps name IDs other than the
/// user's own) leaves its processes in cr_restart's namespace, with a warning.
final class UserNamespaceFactory {
    let namespaces: [UserNamespaceState]
    private var made: [Int: Int32] = [:]
    private(set) var warnings: [String] = []

    init?(namespaces: [UserNamespaceState]) {
        guard !namespaces.isEmpty else { return nil }
        self.namespaces = namespaces
    }

    deinit { for fd in made.values { close(fd) } }

    /// Makes every namespace the processes in `wanted` (1-based numbers) are in.
    func make(_ wanted: Set<Int>) throws {
        for k in wanted.sorted() {
            guard k <= namespaces.count else { continue }  // Restorer refuses such an image first
            do { made[k] = try makeOne(namespaces[k - 1]) } catch {
                warnings.append("user namespace \(k) could not be made again (\(error)): its processes come back in cr_restart's, where their IDs are the ones they had outside")
            }
        }
    }

    /// The entry for namespace `k`, once made.
    func entry(_ k: Int) -> UserNamespaceEntry? {
        guard k > 0, let fd = made[k] else { return nil }
        return UserNamespaceEntry(descriptor: fd, state: namespaces[k - 1])
    }

    private func makeOne(_ ns: UserNamespaceState) throws -> Int32 {
        // As root the namespace gets its owner (its creator's effective user ID); a user's is the user's.
        let owner = geteuid() == 0 && ns.owner != 0 ? Int(ns.owner) : -1
        return try Self.transient("user namespace", { ready in
            if owner >= 0 && Syscall.raw(NR.setresuid, -1, owner, -1) != 0 { Syscall.exitGroup(1) }
            if Syscall.raw(NR.unshare, Int(CloneFlags.newUser)) != 0 { Syscall.exitGroup(2) }
            Self.signal(ready)
        }, failures: [1: "taking owner \(ns.owner)'s user ID", 2: "unshare(CLONE_NEWUSER)"]) { child in
            // setgroups before gid_map: "deny" is what lets a user write one; a denied parent keeps it denied.
            if !ns.setgroupsAllowed { try write("/proc/\(child)/setgroups", "deny") }
            try write("/proc/\(child)/uid_map", UserNamespaceState.text(ns.uidMap))
            try write("/proc/\(child)/gid_map", UserNamespaceState.text(ns.gidMap))
            return try Self.openNamespace("/proc/\(child)/ns/user")
        }
    }

    /// A new namespace of `kind` that belongs to the user namespace `owner`
    /// (a descriptor of ours): a transient child enters that one, unshares,
    /// and the restorer keeps the new namespace by a descriptor.
    static func make(kind: String, flag: UInt64, inside owner: Int32) throws -> Int32 {
        try transient("\(kind) namespace inside a user namespace", { ready in
            if Syscall.raw(NR.setns, Int(owner), Int(CloneFlags.newUser)) != 0 { Syscall.exitGroup(1) }
            if Syscall.raw(NR.unshare, Int(flag)) != 0 { Syscall.exitGroup(2) }
            Self.signal(ready)
        }, failures: [1: "entering the user namespace", 2: "unshare"]) { child in
            try openNamespace("/proc/\(child)/ns/\(kind)")
        }
    }

    /// A copy, owned by the user namespace `owner`, of the mount namespace
    /// `mounts` (descriptors of ours): a transient child enters that one, then
    /// the user namespace, and unshares. The copy's mounts are locked to its
    /// processes as those of `unshare -Urm` are (they came from a namespace of
    /// more privilege), and its shared mounts are slaves of the source's.
    static func copy(mounts: Int32, inside owner: Int32) throws -> Int32 {
        try transient("mount namespace inside a user namespace", { ready in
            if Syscall.raw(NR.setns, Int(mounts), Int(CloneFlags.newMount)) != 0 { Syscall.exitGroup(1) }
            if Syscall.raw(NR.setns, Int(owner), Int(CloneFlags.newUser)) != 0 { Syscall.exitGroup(2) }
            if Syscall.raw(NR.unshare, Int(CloneFlags.newMount)) != 0 { Syscall.exitGroup(3) }
            Self.signal(ready)
        }, failures: [1: "entering the mount namespace built for it", 2: "entering the user namespace", 3: "unshare"]) { child in
            try openNamespace("/proc/\(child)/ns/mnt")
        }
    }

    /// Runs `child` (raw system calls only) in a child of ours, which calls
    /// `signal` once done and waits; `use` then sees it, and it is killed.
    /// A child that exits instead is named by `failures[its status]`.
    private static func transient<T>(_ what: String, _ child: (Int32) -> Void, failures: [Int32: String], _ use: (pid_t) throws -> T) throws -> T {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw CheckpointError(errno: errno, "\(what): pipe") }
        // Close-on-exec: a program the restorer runs meanwhile must not hold the write end open.
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let writeEnd = ends[1]
        let spawned = RawChild.spawn {
            _ = Syscall.prctl(.setPdeathsig, Int(SIGKILL))
            child(writeEnd)
            Syscall.pauseForever()
        }
        close(ends[1])
        defer { close(ends[0]) }
        let pid: pid_t
        switch spawned {
        case .success(let p): pid = p
        case .failure(let e): throw CheckpointError(e.rawValue, "\(what): clone3: \(errorText(e.rawValue))")
        }
        var reaped = false
        defer {
            if !reaped {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(pid, &status, __WALL)
            }
        }
        var byte: UInt8 = 0
        var n = 0
        repeat { n = read(ends[0], &byte, 1) } while n < 0 && errno == EINTR
        guard n == 1 else {
            var status: Int32 = 0
            reaped = waitpid(pid, &status, __WALL) == pid
            let code = (status >> 8) & 0xff
            throw CheckpointError(EPERM, "\(what): \(failures[code] ?? "its maker ended (status 0x\(String(status, radix: 16)))") refused")
        }
        return try use(pid)
    }

    /// In a transient child: one byte down the pipe, no allocation.
    private static func signal(_ fd: Int32) {
        var byte: UInt8 = 1
        _ = withUnsafeMutablePointer(to: &byte) { Syscall.raw(NR.write, Int(fd), Int(bitPattern: $0), 1) }
    }

    private static func openNamespace(_ path: String) throws -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno: errno, "opening \(path)") }
        return fd
    }

    private func write(_ path: String, _ text: String) throws {
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno: errno, "opening \(path)") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw CheckpointError(errno: n < 0 ? errno : EIO, "writing \(path.split(separator: "/").last ?? "") \(text.split(separator: "\n").joined(separator: ", "))") }
    }
}

/// A made user namespace a process enters, and its maps.
struct UserNamespaceEntry {
    let descriptor: Int32
    let state: UserNamespaceState
}
