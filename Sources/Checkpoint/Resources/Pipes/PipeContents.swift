import CheckpointImage
import Glibc
import LinuxKit

/// A pipe's or FIFO's buffered bytes are saved once per checkpoint, however
/// many descriptors and processes share it. They are read without being
/// taken out: the pipe is opened through /proc/PID/fd/N and tee(2)'d into
/// a pipe of our own.
final class PipeContents {
    private var seen: Set<[UInt64]> = []

    /// The bytes and capacity of the pipe behind `fd`, or nil if this pipe
    /// was captured already or its bytes are left to a read end seen later.
    func capture(pid: pid_t, fd: Int32, readEnd: Bool, device: UInt64, inode: UInt64) throws -> (data: [UInt8], capacity: UInt64, noWriters: Bool)? {
        guard seen.insert([device, inode]).inserted else { return nil }
        let path = "/proc/\(pid)/fd/\(fd)"
        var source = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if source < 0 && errno == EACCES {
            // Another user's pipe (one a root shell handed down): opening it
            // anew is refused, but the process's own read end can be borrowed.
            guard readEnd else {
                seen.remove([device, inode])
                return nil
            }
            source = try SocketBorrower.borrowOnce(pid: pid, fd: fd)
        } else if source < 0 {
            source = try valueOrThrow("open(\(path))") { open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        }
        defer { close(source) }
        let capacity = try valueOrThrow("fcntl(F_GETPIPE_SZ)") { fcntl(source, FcntlCommand.getPipeSize) }
        var copy: [Int32] = [0, 0]
        _ = try valueOrThrow("pipe") { pipe(&copy) }
        defer { close(copy[0]); close(copy[1]) }
        // A user past fs.pipe-user-pages-soft gets small new pipes and may not
        // grow them (EPERM): the copy then does as long as the bytes fit.
        let grown = fcntl(copy[1], FcntlCommand.setPipeSize, capacity) >= 0
        var buffered: Int32 = 0
        _ = ioctl(source, UInt(FIONREAD), &buffered)
        let n = (try? rawSyscall("tee(\(path))", NR.tee, Int(source), Int(copy[1]), Int(capacity), 2)) ?? 0  // SPLICE_F_NONBLOCK; EAGAIN: empty
        if !grown && n < Int(buffered) {
            throw CheckpointError(EPERM, "\(path): \(buffered) bytes buffered, and a pipe to copy them into could hold only \(n): this user is over its pipe buffer limit (fs.pipe-user-pages-soft)")
        }
        var data = [UInt8](repeating: 0, count: n)
        if n > 0 {
            let got = try data.withUnsafeMutableBytes { try Sys.readFull(copy[0], $0, what: "pipe copy") }
            guard got == n else { throw CheckpointError(EIO, "\(path): read \(got) of \(n) buffered bytes") }
        }
        // A read end polls "hung up" once no writer is left anywhere: then
        // its bytes are all it will ever read, and EOF after them.
        var p = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
        let noWriters = poll(&p, 1, 0) == 1 && p.revents & Int16(POLLHUP) != 0
        return (data, UInt64(capacity), noWriters)
    }

    /// Saves the buffered bytes into the first descriptor of a pipe or FIFO seen.
    func save(_ d: OpenDescriptor, into state: inout FileDescriptorState) throws {
        let readEnd = state.flags & UInt32(O_ACCMODE) != UInt32(O_WRONLY)
        if let captured = try capture(pid: d.pid, fd: d.fd, readEnd: readEnd, device: d.device, inode: d.inode) {
            state.pipeData = captured.data
            state.pipeCapacity = captured.capacity
            state.pipeNoWriters = captured.noWriters
        }
    }
}
