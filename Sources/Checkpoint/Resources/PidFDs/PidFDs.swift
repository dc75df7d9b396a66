import CheckpointImage
import Glibc
import LinuxKit

/// pidfds, by the PID fdinfo names. One of a process of the image refers
/// to its restored self (whatever PID it has now), one of a process outside
/// to that PID if it still runs; those of one gone process get one process
/// of ours that exits at once and is reaped once every descriptor is in
/// place, so they share an inode and read as gone again.
enum PidFDs: FDInfoKind {
    static let imageKind = FileDescriptorState.Kind.pidfd
    static func payload(_ r: PidFDRecord) -> DescriptorPayload { .pidfd(r) }

    static func parse(_ d: OpenDescriptor) -> PidFDRecord? {
        guard d.link == "anon_inode:[pidfd]" || d.link.hasPrefix("pidfd:") else { return nil }
        guard let pid = ProcStatus(parsing: d.fdinfo).fields["Pid"].flatMap({ Int64($0) }) else { return nil }
        return PidFDRecord(pid: pid > 0 ? pid : -1)
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard let r = f.pidfd else { throw CheckpointError(EINVAL, "fd \(f.fd): pidfd record missing") }
        let flags = Int(UInt32(f.flags) & UInt32(O_NONBLOCK | O_EXCL))  // PIDFD_NONBLOCK, PIDFD_THREAD
        var target: pid_t
        if ThreadPidFDs.isOwnThread(f, of: c.process) {
            // Its thread is not made yet: the process's own pidfd holds the number until it is.
            let opened = Syscall.result(NR.pidfd_open, Int(c.objects.stubs[c.process.pid] ?? c.process.pid), flags & ~Int(O_EXCL))
            guard case .success(let fd) = opened else { return .closed("fd \(f.fd): pidfd of thread \(r.pid): \(opened)") }
            c.objects.closeLater(Int32(fd))
            return .local(Int32(fd))
        }
        if r.pid > 0 {
            target = c.objects.stubs[pid_t(r.pid)] ?? pid_t(r.pid)
        } else {
            guard let pid = c.objects.goneProcess(for: f.inode) else {
                return .closed("fd \(f.fd): a pidfd of a process that was gone could not be made: \(errorText(errno))")
            }
            target = pid
        }
        let opened = Syscall.result(NR.pidfd_open, Int(target), r.pid > 0 ? flags : flags & ~Int(O_EXCL))
        switch opened {
        case .success(let fd):
            c.objects.closeLater(Int32(fd))
            return .local(Int32(fd))
        case .failure(let e):
            return .closed("fd \(f.fd): pidfd of process \(r.pid): it is gone (\(e)); closed")
        }
    }
}
