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

    /// Runs `body` with the socket's SO_PEEK_OFF at 0, so MSG_PEEK reads
    /// step through its queue from the start, and puts the offset back as
    /// the target had it (-1: off). nil, `body` not run: the socket has no
    /// peek offset.
    static func peekingFromStart<T>(_ fd: Int32, _ body: () throws -> T) rethrows -> T? {
        var saved = option(fd, SO_PEEK_OFF)
        var zero: Int32 = 0
        guard setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, 4) == 0 else { return nil }
        defer { _ = setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &saved, 4) }
        return try body()
    }

    /// A stream socket's peer: getpeername, or for a connect in progress
    /// (SYN_SENT) and an ended connection (CLOSE), which getpeername does
    /// not tell, SO_PEERNAME (which refuses a buffer longer than the family's sockaddr).
    static func streamPeer(_ fd: Int32, family: Int32) -> [UInt8] {
        let peer = name(fd, getpeername)
        guard peer.isEmpty, [2, 7].contains(TCPRepair.state(fd)) else { return peer }
        let size = socklen_t(family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        return name(fd) { fd, address, length in
            length.pointee = size
            return getsockopt(fd, SOL_SOCKET, SO_PEERNAME, address, length)
        }
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
