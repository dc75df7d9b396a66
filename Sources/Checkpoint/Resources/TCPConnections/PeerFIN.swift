import CheckpointImage
import Glibc
import LinuxKit

/// A connection whose peer had closed its side comes back without that
/// FIN: the peer sent it once, it was acknowledged, and it never comes
/// again. So the restorer sends the rebuilt socket the same FIN itself, as
/// a raw TCP segment from the peer's address (as CRIU does), and reads then
/// end at the same place they did.
enum PeerFIN {
    /// Sends FIN|ACK from the peer to the socket of `s`.
    static func deliver(to s: TCPConnectionRecord, sequence: UInt32, acknowledging ack: UInt32, fd number: Int32) throws {
        guard let from = InetEndpoint(s.peerAddress), let to = InetEndpoint(s.address), from.ip.count == to.ip.count else {
            throw CheckpointError(EINVAL, "fd \(number): the peer's FIN cannot be sent again: addresses \(SocketAddress.describe(s.peerAddress)) -> \(SocketAddress.describe(s.address))")
        }
        let window = UInt16(clamping: s.window.sndWnd >> min(s.sendScale, 14))
        let segment = segment(from: from, to: to, sequence: sequence, ack: ack, window: window)
        let family = from.ip.count == 4 ? AF_INET : AF_INET6
        let raw = try valueOrThrow("raw socket for the peer's FIN") { socket(family, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_TCP)) }
        defer { close(raw) }
        // The peer's address need not be ours: bind it all the same.
        var one: Int32 = 1
        _ = setsockopt(raw, 0, 15, &one, 4)  // IP_FREEBIND
        let bound = from.sockaddr(port: 0).withUnsafeBytes { a in
            bind(raw, a.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
        }
        guard bound == 0 else { throw CheckpointError(errno: errno, "fd \(number): binding the peer's address for its FIN") }
        let sent = to.sockaddr(port: 0).withUnsafeBytes { a in
            segment.withUnsafeBytes { sendto(raw, $0.baseAddress, $0.count, 0, a.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count)) }
        }
        guard sent == segment.count else { throw CheckpointError(errno: errno, "fd \(number): sending the peer's FIN") }
    }

    /// Whether the socket took the FIN (a state past the peer's FIN:
    /// CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT or CLOSE), waiting up to
    /// 20 ms: a segment to a local address is taken as it is sent.
    static func arrived(_ fd: Int32) -> Bool {
        for _ in 0..<20 {
            if [6, 7, 8, 9, 11].contains(TCPRepair.state(fd)) { return true }
            usleep(1000)
        }
        return false
    }

    /// A 20-byte TCP header with FIN and ACK and its checksum over the pseudo header.
    static func segment(from: InetEndpoint, to: InetEndpoint, sequence: UInt32, ack: UInt32, window: UInt16) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 20)
        func put16(_ at: Int, _ v: UInt16) { h[at] = UInt8(v >> 8); h[at + 1] = UInt8(v & 0xff) }
        func put32(_ at: Int, _ v: UInt32) { put16(at, UInt16(v >> 16)); put16(at + 2, UInt16(v & 0xffff)) }
        put16(0, from.port)
        put16(2, to.port)
        put32(4, sequence)
        put32(8, ack)
        h[12] = 5 << 4          // data offset: five words, no options
        h[13] = 0x01 | 0x10     // FIN, ACK
        put16(14, window)
        let length = UInt16(h.count)
        let pseudo = from.ip.count == 4
            ? from.ip + to.ip + [0, 6, UInt8(length >> 8), UInt8(length & 0xff)]
            : from.ip + to.ip + [0, 0, UInt8(length >> 8), UInt8(length & 0xff), 0, 0, 0, 6]
        put16(16, checksum(pseudo + h))
        return h
    }

    /// The Internet checksum: one's complement of the one's complement sum of 16-bit words.
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
