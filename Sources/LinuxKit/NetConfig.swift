import Glibc
import SystemPackage

/// An IPv4 or IPv6 address of an interface (rtnetlink's RTM_NEWADDR).
public struct InterfaceAddress: Equatable, Sendable {
    public var family: UInt8
    public var prefixLength: UInt8
    /// IFA_FLAGS (IFA_F_NODAD, IFA_F_NOPREFIXROUTE...).
    public var flags: UInt32
    public var scope: UInt8
    public var interface: String
    /// IFA_LOCAL, the interface's own address (IFA_ADDRESS where there is no IFA_LOCAL: IPv6).
    public var local: [UInt8]
    /// IFA_ADDRESS where it differs from IFA_LOCAL: a point-to-point link's peer.
    public var peer: [UInt8]
    public var broadcast: [UInt8]
    public var label: String

    public init(family: UInt8, prefixLength: UInt8, flags: UInt32, scope: UInt8, interface: String, local: [UInt8],
                peer: [UInt8] = [], broadcast: [UInt8] = [], label: String = "") {
        self.family = family; self.prefixLength = prefixLength; self.flags = flags; self.scope = scope; self.interface = interface
        self.local = local; self.peer = peer; self.broadcast = broadcast; self.label = label
    }
}

/// A route of the main or another table but the local one (rtnetlink's RTM_NEWROUTE).
public struct NetRoute: Equatable, Sendable {
    public var family: UInt8
    public var destinationLength: UInt8
    public var table: UInt32
    public var proto: UInt8
    public var scope: UInt8
    public var type: UInt8
    public var destination: [UInt8]
    public var gateway: [UInt8]
    /// The output interface by name ("" for none: a blackhole, unreachable or prohibit route).
    public var interface: String
    public var priority: UInt32?
    public var preferredSource: [UInt8]

    public init(family: UInt8, destinationLength: UInt8, table: UInt32, proto: UInt8, scope: UInt8, type: UInt8, destination: [UInt8],
                gateway: [UInt8], interface: String, priority: UInt32?, preferredSource: [UInt8]) {
        self.family = family; self.destinationLength = destinationLength; self.table = table; self.proto = proto; self.scope = scope
        self.type = type; self.destination = destination; self.gateway = gateway; self.interface = interface
        self.priority = priority; self.preferredSource = preferredSource
    }
}

/// The addresses and routes a network namespace's programs set (`ip addr`,
/// `ip route`), read with rtnetlink dumps and set again with its requests.
/// Routes the kernel keeps for itself are left out: the local table, and
/// those of protocol kernel or router advertisement (an address brings its
/// prefix route back, as it brought it first).
public enum NetConfig {
    static let rtmNewLink: UInt16 = 16, rtmGetLink: UInt16 = 18, rtmNewAddress: UInt16 = 20, rtmGetAddress: UInt16 = 22
    static let rtmNewRoute: UInt16 = 24, rtmGetRoute: UInt16 = 26
    /// Settable address flags: IFA_F_NODAD, IFA_F_HOMEADDRESS, IFA_F_MANAGETEMPADDR, IFA_F_NOPREFIXROUTE, IFA_F_MCAUTOJOIN.
    public static let settableAddressFlags: UInt32 = 0x02 | 0x10 | 0x100 | 0x200 | 0x400

    /// Interface names by index.
    public static func interfaces(netlink: NetlinkSource) throws -> [Int32: String] {
        var names: [Int32: String] = [:]
        try SockDiag.dump([UInt8](repeating: 0, count: 16), type: rtmGetLink, protocol: 0, netlink: netlink) { b, range in
            guard range.count >= 16 else { return }
            let index = Int32(bitPattern: UnixSocketDiag.get32(b, range.lowerBound + 4))
            TunLinks.attributes(b, (range.lowerBound + 16)..<range.upperBound) { type, value in
                if type == 3 { names[index] = String(decoding: b[value].prefix { $0 != 0 }, as: UTF8.self) }  // IFLA_IFNAME
            }
        }
        return names
    }

    public static func addresses(netlink: NetlinkSource, names: [Int32: String]) throws -> [InterfaceAddress] {
        var found: [InterfaceAddress] = []
        // ifaddrmsg: family (0: all), prefix length, flags, scope, index.
        try SockDiag.dump([UInt8](repeating: 0, count: 8), type: rtmGetAddress, protocol: 0, netlink: netlink) { b, range in
            guard range.count >= 8 else { return }
            let at = range.lowerBound
            var a = InterfaceAddress(family: b[at], prefixLength: b[at + 1], flags: UInt32(b[at + 2]), scope: b[at + 3],
                                     interface: names[Int32(bitPattern: UnixSocketDiag.get32(b, at + 4))] ?? "", local: [])
            var address: [UInt8] = []
            TunLinks.attributes(b, (at + 8)..<range.upperBound) { type, value in
                switch type {
                case 1: address = Array(b[value])                                                    // IFA_ADDRESS
                case 2: a.local = Array(b[value])                                                    // IFA_LOCAL
                case 3: a.label = String(decoding: b[value].prefix { $0 != 0 }, as: UTF8.self)       // IFA_LABEL
                case 4: a.broadcast = Array(b[value])                                                // IFA_BROADCAST
                case 8 where value.count >= 4: a.flags = UnixSocketDiag.get32(b, value.lowerBound)   // IFA_FLAGS
                default: break
                }
            }
            if a.local.isEmpty { a.local = address } else if address != a.local { a.peer = address }
            let size = a.family == UInt8(AF_INET) ? 4 : 16
            guard !a.interface.isEmpty, a.family == UInt8(AF_INET) || a.family == UInt8(AF_INET6), a.local.count == size,
                  a.peer.isEmpty || a.peer.count == size, a.broadcast.isEmpty || a.broadcast.count == size else { return }
            found.append(a)
        }
        return found
    }

    public static func routes(netlink: NetlinkSource, names: [Int32: String]) throws -> [NetRoute] {
        var found: [NetRoute] = []
        // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        try SockDiag.dump([UInt8](repeating: 0, count: 12), type: rtmGetRoute, protocol: 0, netlink: netlink) { b, range in
            guard range.count >= 12 else { return }
            let at = range.lowerBound
            var r = NetRoute(family: b[at], destinationLength: b[at + 1], table: UInt32(b[at + 4]), proto: b[at + 5], scope: b[at + 6],
                             type: b[at + 7], destination: [], gateway: [], interface: "", priority: nil, preferredSource: [])
            let cloned = UnixSocketDiag.get32(b, at + 8) & 0x200 != 0  // RTM_F_CLONED: a cache entry
            var unkept = false
            TunLinks.attributes(b, (at + 12)..<range.upperBound) { type, value in
                switch type {
                case 1: r.destination = Array(b[value])                                                                  // RTA_DST
                case 2, 9: unkept = true                                                                                 // RTA_SRC, RTA_MULTIPATH: not kept
                case 4 where value.count >= 4: r.interface = names[Int32(bitPattern: UnixSocketDiag.get32(b, value.lowerBound))] ?? "?"  // RTA_OIF
                case 5: r.gateway = Array(b[value])                                                                      // RTA_GATEWAY
                case 6 where value.count >= 4: r.priority = UnixSocketDiag.get32(b, value.lowerBound)                    // RTA_PRIORITY
                case 7: r.preferredSource = Array(b[value])                                                              // RTA_PREFSRC
                case 15 where value.count >= 4: r.table = UnixSocketDiag.get32(b, value.lowerBound)                      // RTA_TABLE
                default: break
                }
            }
            // Kept: unicast, blackhole, unreachable and prohibit routes set by a program (not the kernel, not an RA).
            let size = r.family == UInt8(AF_INET) ? 4 : 16
            guard !cloned, !unkept, r.table != 255, r.proto != 2, r.proto != 9, [1, 6, 7, 8].contains(r.type),
                  r.family == UInt8(AF_INET) || r.family == UInt8(AF_INET6),
                  [r.destination, r.gateway, r.preferredSource].allSatisfy({ $0.isEmpty || $0.count == size }) else { return }
            found.append(r)
        }
        return found
    }

    /// Adds an address; false if it is there already (EEXIST).
    @discardableResult
    public static func add(_ a: InterfaceAddress, index: Int32, on sock: Int32) throws -> Bool {
        var body: [UInt8] = [a.family, a.prefixLength, UInt8(truncatingIfNeeded: a.flags & 0xff), a.scope, 0, 0, 0, 0]
        UnixSocketDiag.put32(&body, 4, UInt32(bitPattern: index))
        append(&body, 2, a.local)                                     // IFA_LOCAL
        append(&body, 1, a.peer.isEmpty ? a.local : a.peer)           // IFA_ADDRESS
        if !a.broadcast.isEmpty { append(&body, 4, a.broadcast) }     // IFA_BROADCAST
        if !a.label.isEmpty { append(&body, 3, Array(a.label.utf8) + [0]) }  // IFA_LABEL
        append(&body, 8, u32(a.flags))                                // IFA_FLAGS
        return try change(body, type: rtmNewAddress, on: sock, what: "adding an address to \(a.interface)")
    }

    /// Adds a route; false if it is there already (EEXIST).
    @discardableResult
    public static func add(_ r: NetRoute, index: Int32?, on sock: Int32) throws -> Bool {
        var body: [UInt8] = [r.family, r.destinationLength, 0, 0, UInt8(truncatingIfNeeded: min(r.table, 255)), r.proto, r.scope, r.type, 0, 0, 0, 0]
        if r.table > 255 { body[4] = 252 }                            // RT_TABLE_COMPAT, the real one in RTA_TABLE
        append(&body, 15, u32(r.table))                               // RTA_TABLE
        if !r.destination.isEmpty { append(&body, 1, r.destination) } // RTA_DST
        if let index { append(&body, 4, u32(UInt32(bitPattern: index))) }  // RTA_OIF
        if !r.gateway.isEmpty { append(&body, 5, r.gateway) }         // RTA_GATEWAY
        if let p = r.priority { append(&body, 6, u32(p)) }            // RTA_PRIORITY
        if !r.preferredSource.isEmpty { append(&body, 7, r.preferredSource) }  // RTA_PREFSRC
        return try change(body, type: rtmNewRoute, on: sock, what: "adding a route\(r.interface.isEmpty ? "" : " through \(r.interface)")")
    }

    static func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }

    /// An rtattr: length, type, value, padded to 4 bytes.
    static func append(_ body: inout [UInt8], _ type: UInt16, _ value: [UInt8]) {
        let length = 4 + value.count
        body += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + value
        body += [UInt8](repeating: 0, count: (4 - length % 4) % 4)
    }

    /// One request (NLM_F_CREATE | NLM_F_EXCL unless `flags` say), acknowledged: true when made, false on EEXIST.
    @discardableResult
    static func change(_ body: [UInt8], type: UInt16, on sock: Int32, what: String, flags: UInt16 = 0x605) throws -> Bool {
        let reply = try ask(body, type: type, on: sock, what: what, flags: flags)
        guard UnixSocketDiag.get16(reply, 4) == 2 else { throw SystemCallError("\(what): the kernel's answer", Errno(rawValue: EPROTO)) }
        let code = -Int32(bitPattern: UnixSocketDiag.get32(reply, 16))
        if code == EEXIST { return false }
        guard code == 0 else { throw SystemCallError(what, Errno(rawValue: code)) }
        return true
    }

    /// Sends one request (NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE unless said) and returns the first message of the answer.
    static func ask(_ body: [UInt8], type: UInt16, on sock: Int32, what: String, flags: UInt16 = 0x605) throws -> [UInt8] {
        var message = [UInt8](repeating: 0, count: 16) + body
        UnixSocketDiag.put32(&message, 0, UInt32(message.count))
        UnixSocketDiag.put16(&message, 4, type)
        UnixSocketDiag.put16(&message, 6, flags)
        UnixSocketDiag.put32(&message, 8, 1)
        guard message.withUnsafeBytes({ send(sock, $0.baseAddress, $0.count, 0) }) == message.count else {
            throw SystemCallError(what, Errno(rawValue: errno))
        }
        var reply = [UInt8](repeating: 0, count: 4096)
        var n = 0
        repeat { n = reply.withUnsafeMutableBytes { recv(sock, $0.baseAddress, $0.count, 0) } } while n < 0 && errno == EINTR
        guard n >= 20, Int(UnixSocketDiag.get32(reply, 0)) <= n else { throw SystemCallError("\(what): the kernel's answer", Errno(rawValue: EPROTO)) }
        let answer = Array(reply[0..<Int(UnixSocketDiag.get32(reply, 0))])
        // An error answers a question (RTM_GETNSID) too.
        if UnixSocketDiag.get16(answer, 4) == 2, type == 90 {
            let code = -Int32(bitPattern: UnixSocketDiag.get32(answer, 16))
            throw SystemCallError(what, Errno(rawValue: code))
        }
        return answer
    }
}
