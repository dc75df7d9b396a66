import CheckpointImage
import Glibc
import LinuxKit

/// Contents that belong to a kernel object rather than to one descriptor
/// (a pipe's or FIFO's buffered bytes, an unlinked file's data) are saved once per
/// checkpoint, however many descriptors and processes share the object.
/// A pipe is read without taking its bytes out: it is opened through
/// /proc/PID/fd/N and tee(2)'d into a pipe of our own.
final class SharedContentCapture {
    private var seen: Set<[UInt64]> = []
    private var seenFiles: Set<[UInt64]> = []

    private var unixTable: [UInt64: UnixSocketInfo]?
    private var repaired: [Int32] = []
    /// Only a checkpoint that kills its targets keeps their TCP sockets in
    /// repair mode to the end (so they close without FIN or RST); any other
    /// takes it off as soon as the state is read, so a checkpointer killed
    /// during the dump does not leave a connection in repair mode.
    var holdRepairs = false

    /// A live TCP socket (our copy) put in repair mode by the checkpoint.
    func inRepair(_ fd: Int32) {
        guard fd >= 0 else { return }
        if holdRepairs { repaired.append(fd) } else { TCPRepair.release(fd); close(fd) }
    }

    /// Leaves repair mode on for processes about to be killed (their sockets
    /// then close without a FIN or RST), otherwise takes it off again.
    func finishRepairs(keepOn: Bool) {
        for fd in repaired {
            if !keepOn { TCPRepair.release(fd) }
            close(fd)
        }
        repaired = []
    }

    /// The network namespace's UNIX sockets (sock_diag), asked once per checkpoint.
    func unixSockets() throws -> [UInt64: UnixSocketInfo] {
        if let t = unixTable { return t }
        do {
            let t = try UnixSocketDiag.all()
            unixTable = t
            return t
        } catch let e as SystemCallError {
            throw CheckpointError(e.errno.rawValue, "cannot list UNIX sockets through sock_diag: \(e)")
        }
    }

    private var lockHolders: [(pid: pid_t, fd: Int32, device: UInt64, inode: UInt64)] = []

    private var openFiles: [[UInt64]: [(pid: pid_t, fd: Int32)]] = [:]

    /// An open file inherited across fork is one kernel object in several
    /// processes: the first (pid, fd) of an earlier process that kcmp finds
    /// to be the same open file, else nil (and this one is remembered).
    func earlierHolder(pid: pid_t, fd: Int32, device: UInt64, inode: UInt64) -> (pid: pid_t, fd: Int32)? {
        let key = [device, inode]
        for h in openFiles[key] ?? [] where h.pid != pid {
            if (try? rawSyscall("kcmp", NR.kcmp, Int(h.pid), Int(pid), 0, Int(h.fd), Int(fd))) == 0 { return h }
        }
        openFiles[key, default: []].append((pid, fd))
        return nil
    }

    /// flock and OFD locks belong to an open file, which a fork or dup shares:
    /// true unless an earlier descriptor (any process) is the same open file.
    func firstLockHolder(pid: pid_t, fd: Int32, device: UInt64, inode: UInt64) -> Bool {
        for h in lockHolders where h.device == device && h.inode == inode {
            if (try? rawSyscall("kcmp", NR.kcmp, Int(h.pid), Int(pid), 0, Int(h.fd), Int(fd))) == 0 { return false }
        }
        lockHolders.append((pid, fd, device, inode))
        return true
    }

    /// True the first time a (device, inode) is asked about: an unlinked file's contents are saved once.
    func firstSight(device: UInt64, inode: UInt64) -> Bool {
        seenFiles.insert([device, inode]).inserted
    }

    /// The bytes and capacity of the pipe behind `fd`, or nil if this pipe
    /// was captured already or its bytes are left to a read end seen later.
    func capture(pid: pid_t, fd: Int32, readEnd: Bool, device: UInt64, inode: UInt64) throws -> (data: [UInt8], capacity: UInt64)? {
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
            source = try borrow(pid: pid, fd: fd)
        } else if source < 0 {
            source = try valueOrThrow("open(\(path))") { open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        }
        defer { close(source) }
        let capacity = try valueOrThrow("fcntl(F_GETPIPE_SZ)") { fcntl(source, 1032) }
        var copy: [Int32] = [0, 0]
        _ = try valueOrThrow("pipe") { pipe(&copy) }
        defer { close(copy[0]); close(copy[1]) }
        _ = try valueOrThrow("fcntl(F_SETPIPE_SZ)") { fcntl(copy[1], 1031, capacity) }
        let n = (try? rawSyscall("tee(\(path))", NR.tee, Int(source), Int(copy[1]), Int(capacity), 2)) ?? 0  // SPLICE_F_NONBLOCK; EAGAIN: empty
        var data = [UInt8](repeating: 0, count: n)
        if n > 0 {
            let got = try data.withUnsafeMutableBytes { try Sys.readFull(copy[0], $0, what: "pipe copy") }
            guard got == n else { throw CheckpointError(EIO, "\(path): read \(got) of \(n) buffered bytes") }
        }
        return (data, UInt64(capacity))
    }

    /// Our descriptor for the process's own open file (pidfd_getfd).
    private func borrow(pid: pid_t, fd: Int32) throws -> Int32 {
        let pidfd = Int32(try rawSyscall("pidfd_open(\(pid))", NR.pidfd_open, Int(pid), 0))
        defer { close(pidfd) }
        return Int32(try rawSyscall("pidfd_getfd(\(pid), \(fd))", NR.pidfd_getfd, Int(pidfd), Int(fd), 0))
    }
}
