import CLinux
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

    /// Unshares, maps this user's uid and gid to themselves, and starts PID 1.
    static func enter() throws {
        let uid = getuid(), gid = getgid()
        if cl_syscall6(Int(CL_SYS_UNSHARE), Int(CL_CLONE_NEWUSER | CL_CLONE_NEWPID), 0, 0, 0, 0, 0) != 0 {
            let e = errno
            throw CheckpointError(e, "cannot create a user and PID namespace for the original PIDs (\(String(cString: strerror(e)))); use --no-restore-pid")
        }
        try write("/proc/self/setgroups", "deny")
        try write("/proc/self/uid_map", "\(uid) \(uid) 1")
        try write("/proc/self/gid_map", "\(gid) \(gid) 1")
        try spawnReaper()
    }

    static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno, "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let n = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard n == text.utf8.count else { throw CheckpointError(errno, "write \(path): \(String(cString: strerror(errno)))") }
    }

    /// PID 1 of the namespace: reaps orphans, and dies with the restorer
    /// (PR_SET_PDEATHSIG), which ends the namespace. System calls only.
    static func spawnReaper() throws {
        var args = cl_clone_args()
        args.exit_signal = UInt64(SIGCHLD)
        let pid = withUnsafeMutablePointer(to: &args) { cl_syscall6(NR.clone3, Int(bitPattern: $0), MemoryLayout<cl_clone_args>.size, 0, 0, 0, 0) }
        if pid == 0 {
            let name: StaticString = "swiftcr-init"  // in the binary: no allocation in this child
            _ = cl_syscall6(NR.prctl, Int(PR_SET_NAME), Int(bitPattern: name.utf8Start), 0, 0, 0, 0)
            _ = cl_syscall6(NR.prctl, Int(PR_SET_PDEATHSIG), Int(SIGKILL), 0, 0, 0, 0)
            while true {
                if cl_syscall6(NR.wait4, -1, 0, 0x4000_0000, 0, 0, 0) < 0 { _ = cl_syscall6(NR.pause, 0, 0, 0, 0, 0, 0) }
            }
        }
        guard pid > 0 else { throw CheckpointError(errno, "starting PID 1 of the namespace: \(String(cString: strerror(errno)))") }
    }
}
