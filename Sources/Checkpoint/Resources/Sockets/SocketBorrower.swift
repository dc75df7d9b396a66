import CheckpointImage
import Glibc
import LinuxKit

/// A socket cannot be reopened through /proc, so pidfd_getfd lends us the
/// socket itself: its options, names and queued data are read from our side.
final class SocketBorrower {
    let pid: pid_t
    private var pidfd: Int32 = -1

    init(pid: pid_t) { self.pid = pid }

    deinit { if pidfd >= 0 { close(pidfd) } }

    /// A descriptor of ours for the target's socket (same open file).
    func borrow(_ fd: Int32) throws -> Int32 {
        if pidfd < 0 { pidfd = Int32(try rawSyscall("pidfd_open(\(pid))", NR.pidfd_open, Int(pid), 0)) }
        return Int32(try rawSyscall("pidfd_getfd(\(pid), \(fd))", NR.pidfd_getfd, Int(pidfd), Int(fd), 0))
    }

    /// Our descriptor for one open file of `pid`, without keeping its pidfd.
    static func borrowOnce(pid: pid_t, fd: Int32) throws -> Int32 {
        let pidfd = Int32(try rawSyscall("pidfd_open(\(pid))", NR.pidfd_open, Int(pid), 0))
        defer { close(pidfd) }
        return Int32(try rawSyscall("pidfd_getfd(\(pid), \(fd))", NR.pidfd_getfd, Int(pidfd), Int(fd), 0))
    }

    /// An int SOL_SOCKET option, or -1.
    static func option(_ fd: Int32, _ name: Int32) -> Int32 {
        var v: Int32 = -1
        var length = socklen_t(4)
        return getsockopt(fd, SOL_SOCKET, name, &v, &length) == 0 ? v : -1
    }

    /// getsockname or getpeername as bytes (empty if none).
    static func name(_ fd: Int32, _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> [UInt8] {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, &length) } }
        guard r == 0 else { return [] }
        return withUnsafeBytes(of: storage) { Array($0.prefix(Int(length))) }
    }
}
