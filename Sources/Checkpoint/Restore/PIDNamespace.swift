import Glibc
import LinuxKit

/// For users who may not choose PIDs: the restorer moves into a new user and
/// PID namespace (where it holds CAP_CHECKPOINT_RESTORE), so the processes it
/// creates there get their original PIDs. It stays their parent from outside
/// the PID namespace; a small reaper is PID 1 inside.
enum PIDNamespace {
    /// Whether this process may choose PIDs where it is (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE).
    static var canChoosePIDs: Bool {
        guard let text = try? Sys.readText("/proc/self/status"),
              let eff = ProcStatus(parsing: text).signalSet("CapEff") else { return geteuid() == 0 }
        return eff & (UInt64(1) << 21) != 0 || eff & (UInt64(1) << 40) != 0
    }

    /// Set once `enter()` succeeded: the restorer's children are in the new namespace.
    nonisolated(unsafe) static var entered = false

    /// Unshares, maps this user's uid and gid to themselves, and starts PID 1.
    static func enter() throws {
        let uid = getuid(), gid = getgid()
        if case .failure(let e) = Syscall.unshare(CloneFlags.newUser | CloneFlags.newPID) {
            throw CheckpointError(e.rawValue, "cannot create a user and PID namespace for the original PIDs (\(e)); use --no-restore-pid")
        }
        try write("/proc/self/setgroups", "deny")
        try write("/proc/self/uid_map", "\(uid) \(uid) 1")
        try write("/proc/self/gid_map", "\(gid) \(gid) 1")
        try spawnReaper()
        entered = true
    }

    static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno: errno, "open \(path)") }
        defer { close(fd) }
        let n = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard n == text.utf8.count else { throw CheckpointError(errno: errno, "write \(path)") }
    }

    /// PID 1 of the namespace: reaps orphans, and dies with the restorer
    /// (PR_SET_PDEATHSIG), which ends the namespace. System calls only.
    static func spawnReaper() throws {
        let spawned = RawChild.spawn {
            let name: StaticString = "swiftcr-init"  // in the binary: no allocation in this child
            _ = Syscall.prctl(.setName, Int(bitPattern: name.utf8Start))
            _ = Syscall.prctl(.setPdeathsig, Int(SIGKILL))
            while true {
                if Syscall.reapAny() < 0 { _ = Syscall.raw(NR.pause) }
            }
        }
        if case .failure(let e) = spawned { throw CheckpointError(e.rawValue, "starting PID 1 of the namespace: \(e)") }
    }
}
