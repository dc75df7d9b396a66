import Glibc

/// One end of an IP connection as the wire carries it: its address (4 or
/// 16 bytes; an IPv4-mapped IPv6 address travels as IPv4) and port, from
/// the bytes of a sockaddr_in or sockaddr_in6 as getsockname gives them.
public struct InetEndpoint: Hashable, Sendable {
    public var ip: [UInt8]
    public var port: UInt16

    public init(ip: [UInt8], port: UInt16) { self.ip = ip; self.port = port }

    public init?(_ a: [UInt8]) {
        guard a.count >= 8 else { return nil }
        port = UInt16(a[2]) << 8 | UInt16(a[3])
        if a[0] == UInt8(AF_INET) {
            ip = Array(a[4..<8])
        } else if a[0] == UInt8(AF_INET6), a.count >= 24 {
            let v6 = Array(a[8..<24])
            ip = v6.prefix(10).allSatisfy { $0 == 0 } && v6[10] == 0xff && v6[11] == 0xff ? Array(v6[12...]) : v6
        } else {
            return nil
        }
    }

    /// The port in network order.
    public var portBytes: [UInt8] { [UInt8(port >> 8), UInt8(port & 0xff)] }

    /// A sockaddr of the address's family with `port`.
    public func sockaddr(port: UInt16) -> [UInt8] {
        let p = [UInt8(port >> 8), UInt8(port & 0xff)]
        if ip.count == 4 { return [UInt8(AF_INET), 0] + p + ip + [UInt8](repeating: 0, count: 8) }
        return [UInt8(AF_INET6), 0] + p + [0, 0, 0, 0] + ip + [0, 0, 0, 0]
    }
}
