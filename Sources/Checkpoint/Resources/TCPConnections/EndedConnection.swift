import CheckpointImage
import Glibc
import LinuxKit

/// A TCP connection that has ended (state CLOSE) still answers
/// getsockname and SO_PEERNAME with its two ends; reads give EOF and
/// writes EPIPE. No call makes such a socket, so the restorer builds the
/// connection in repair mode (bind, connect: no packet) and aborts it with
/// sock_diag's SOCK_DESTROY, which ends it where the kernel leaves a
/// closed connection: state CLOSE, both directions shut, addresses kept.
/// The abort's error is read off (SO_ERROR) so the program does not see it.
/// The abort sends the old peer one RST for the ended connection (the
/// kernel's tcp_abort), which a peer that ended it too drops. Bytes it had
/// received unread go into its receive queue first (repair mode), and are
/// read before end of file.
enum EndedConnection {
    /// The ended connection from `local` to `peer`, or nil when
    /// this restorer may not build one (no CAP_NET_ADMIN, no SOCK_DESTROY).
    static func rebuild(family saved: UInt64, local: [UInt8], peer: [UInt8], options: [FileDescriptorState.SocketOption],
                        unread: [UInt8] = [], fd number: Int32, dropTimeWait: () -> Int) throws -> Int32? {
        guard !SocketAddress.isUnbound(local), peer.count >= MemoryLayout<sockaddr_in>.size else { return nil }
        let family = Int32(truncatingIfNeeded: saved)
        let fd = try valueOrThrow("socket(TCP)") { socket(family, Int32(SOCK_STREAM.rawValue), Int32(IPPROTO_TCP)) }
        guard TCPRepair.set(fd, TCPRepair.repair, 1) else {
            close(fd)
            return nil
        }
        do {
            // Repair mode forces address reuse; the options a bind depends on go first.
            SocketOptions.apply(options.filter { !($0.level == SOL_SOCKET && $0.name == SocketOptions.reuseAddress) }, to: fd, beforeBind: true)
            try call(fd, local, bind, "cannot bind \(SocketAddress.describe(local)) again", number)
            // The original's own TIME_WAIT for these two ends may still be there.
            var connected = withAddress(peer) { connect(fd, $0, $1) } == 0
            if !connected && errno == EADDRNOTAVAIL && dropTimeWait() > 0 {
                connected = withAddress(peer) { connect(fd, $0, $1) } == 0
            }
            guard connected else {
                throw CheckpointError(errno: errno, "fd \(number): cannot rebuild the ended connection to \(SocketAddress.describe(peer))")
            }
            // What it had received and the program had not read: into its receive queue, which the abort leaves.
            try TCPRepair.fillReceiveQueue(fd, unread[...], number)
            var cookie: UInt64 = 0
            var length = socklen_t(8)
            guard getsockopt(fd, SOL_SOCKET, 57, &cookie, &length) == 0 else {  // SO_COOKIE
                throw CheckpointError(errno: errno, "fd \(number): SO_COOKIE")
            }
            do {
                try SockDiag.destroyConnection(family: family, local: local, peer: peer, cookie: cookie)
            } catch {
                close(fd)
                return nil
            }
            var pending: Int32 = 0
            var size = socklen_t(4)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &size)
            TCPRepair.release(fd)
            // Leaving repair mode cleared SO_REUSEADDR; the rest follow as for any inet socket.
            SocketOptions.apply(options.filter { $0.level == SOL_SOCKET && $0.name == SocketOptions.reuseAddress }, to: fd, beforeBind: nil)
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    private static func withAddress(_ a: [UInt8], _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        a.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return -1 }
            return body(base.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
    }

    private static func call(_ fd: Int32, _ a: [UInt8], _ f: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32, _ what: String, _ number: Int32) throws {
        guard withAddress(a, { f(fd, $0, $1) }) == 0 else { throw CheckpointError(errno: errno, "fd \(number): \(what)") }
    }
}
