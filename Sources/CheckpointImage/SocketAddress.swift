/// Readable forms of saved socket addresses, for messages and `inspect`.
public enum SocketAddress {
    /// A UNIX name (path or @abstract) or a sockaddr_in/in6 as ip:port.
    public static func describe(_ a: [UInt8]) -> String {
        if a.isEmpty { return "(unnamed)" }
        if a.count >= 8, a[0] == 2, a[1] == 0 {  // AF_INET
            let port = Int(a[2]) << 8 | Int(a[3])
            return "\(a[4]).\(a[5]).\(a[6]).\(a[7]):\(port)"
        }
        if a.count >= 24, a[0] == 10, a[1] == 0 {  // AF_INET6
            let port = Int(a[2]) << 8 | Int(a[3])
            let groups = stride(from: 8, to: 24, by: 2).map { String(Int(a[$0]) << 8 | Int(a[$0 + 1]), radix: 16) }
            return "[\(groups.joined(separator: ":"))]:\(port)"
        }
        if a[0] == 0 { return "@" + String(decoding: a.dropFirst().prefix { $0 != 0 }, as: UTF8.self) }
        return String(decoding: a.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// An inet address with neither an IP nor a port: the socket was never bound.
    public static func isUnbound(_ a: [UInt8]) -> Bool {
        guard a.count >= 8 else { return true }
        let ip = a[0] == 10 ? a.dropFirst(8).prefix(16) : a.dropFirst(4).prefix(4)
        return a[2] == 0 && a[3] == 0 && ip.allSatisfy { $0 == 0 }
    }
}
