import CheckpointImage
import Glibc
import LinuxKit

/// pidfds of a thread (pidfd_open with PIDFD_THREAD, Linux 6.9) of the
/// process that holds them. Descriptors are made before the threads, so
/// such a pidfd first stands in as a pidfd of the process itself (its
/// number taken, its flags and dups in place) and is made again once the
/// threads exist: pidfd_open(thread, PIDFD_THREAD) inside the process,
/// moved onto its number and every dup of it.
enum ThreadPidFDs {
    /// O_EXCL in a pidfd's flags is PIDFD_THREAD.
    static func isOwnThread(_ f: FileDescriptorState, of process: ProcessState) -> Bool {
        guard f.kind == .pidfd, UInt32(f.flags) & UInt32(O_EXCL) != 0, let r = f.pidfd, r.pid > 0,
              r.pid != Int64(process.pid) else { return false }
        return process.threads.contains { Int64($0.tid) == r.pid }
    }

    /// Once the threads are made: `innerTID` gives a thread's ID inside the
    /// process from its image TID.
    static func remake(_ process: ProcessState, in session: RemoteSession, innerTID: [pid_t: pid_t]) throws -> [String] {
        var warnings: [String] = []
        for f in process.files where f.sharesWith == f.fd && isOwnThread(f, of: process) {
            guard let r = f.pidfd, let tid = innerTID[pid_t(truncatingIfNeeded: r.pid)] else { continue }
            let flags = UInt64(UInt32(f.flags) & UInt32(O_NONBLOCK | O_EXCL))
            let made = try session.raw(NR.pidfd_open, UInt64(tid), flags)
            guard made >= 0 else {
                warnings.append("fd \(f.fd): the pidfd of thread \(r.pid) could not be made again (\(errorText(Int32(-made)))): it is the process's pidfd")
                continue
            }
            for d in process.files where d.fd == f.fd || d.sharesWith == f.fd {
                try session.dup3(UInt64(made), to: d.fd, cloexec: d.closeOnExec, what: "pidfd of thread \(r.pid)")
            }
            try session.close(UInt64(made))
        }
        return warnings
    }
}
