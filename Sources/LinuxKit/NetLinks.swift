import Glibc
import SystemPackage

/// One network device as rtnetlink's RTM_GETLINK describes it.
public struct NetLinkInfo: Equatable, Sendable {
    public var name: String
    public var index: Int32
    /// IFLA_INFO_KIND: "veth", "macvlan", "bridge", "dummy", "tun"... ("" for lo and hardware).
    public var kind: String
    public var mtu: UInt32
    public var address: [UInt8]
    public var up: Bool
    /// IFLA_MASTER: the bridge (or bond) it is a port of; 0 for none.
    public var master: Int32
    /// IFLA_LINK: a veth's peer, a macvlan's lower device; 0 for none.
    public var link: Int32
    /// IFLA_LINK_NETNSID: `link` is in another namespace, known by this id in this one.
    public var linkNamespace: Int32?
    /// IFLA_MACVLAN_MODE (private 1, vepa 2, bridge 4, passthru 8, source 16).
    public var macvlanMode: UInt32
    /// A TUN/TAP device's own description.
    public var tun: TunLink?

    public init(name: String, index: Int32, kind: String = "", mtu: UInt32 = 0, address: [UInt8] = [], up: Bool = false, master: Int32 = 0,
                link: Int32 = 0, linkNamespace: Int32? = nil, macvlanMode: UInt32 = 0, tun: TunLink? = nil) {
        self.name = name; self.index = index; self.kind = kind; self.mtu = mtu; self.address = address; self.up = up
        self.master = master; self.link = link; self.linkNamespace = linkNamespace; self.macvlanMode = macvlanMode; self.tun = tun
    }
}

/// A device to make with RTM_NEWLINK: its kind and what it is made with.
public struct NewLink: Sendable {
    public var name: String
    /// 0: the kernel's choice.
    public var index: Int32
    public var kind: String
    public var mtu: UInt32
    public var address: [UInt8]
    /// A macvlan's lower device (in the namespace of the socket that sends the request).
    public var lower: Int32 = 0
    public var macvlanMode: UInt32 = 0
    /// A veth's other end: made with it, in the namespace of `peerNamespaceFD` (ours: the sender's namespace).
    public var peer: (name: String, index: Int32, mtu: UInt32, address: [UInt8])?
    public var peerNamespaceFD: Int32?
    /// The namespace the device itself goes to (a descriptor of the sender's); nil: the socket's.
    public var namespaceFD: Int32?

    public init(name: String, index: Int32, kind: String, mtu: UInt32, address: [UInt8]) {
        self.name = name; self.index = index; self.kind = kind; self.mtu = mtu; self.address = address
    }
}

/// Network devices read and made with rtnetlink: the devices of a
/// namespace (RTM_GETLINK), the id one namespace gives another
/// (RTM_GETNSID), and the requests that make, move, enslave and raise them.
public enum NetLinks {
    static let iflaAddress: UInt16 = 1, iflaName: UInt16 = 3, iflaMTU: UInt16 = 4, iflaLink: UInt16 = 5, iflaMaster: UInt16 = 10
    static let iflaLinkInfo: UInt16 = 18, iflaNamespaceFD: UInt16 = 28, iflaLinkNamespace: UInt16 = 37, iflaNewIndex: UInt16 = 49
    static let nested: UInt16 = 0x8000

    /// Every device of the namespace `netlink` answers for.
    public static func all(netlink: NetlinkSource = .here) throws -> [NetLinkInfo] {
        var found: [NetLinkInfo] = []
        // ifinfomsg: family, pad, type, index, flags, change (16 bytes, all zero: every link).
        try SockDiag.dump([UInt8](repeating: 0, count: 16), type: NetConfig.rtmGetLink, protocol: 0, netlink: netlink) { b, range in
            if let link = parse(b, range) { found.append(link) }
        }
        return found
    }

    /// One RTM_NEWLINK message.
    static func parse(_ b: [UInt8], _ range: Range<Int>) -> NetLinkInfo? {
        guard range.count >= 16 else { return nil }
        var link = NetLinkInfo(name: "", index: Int32(bitPattern: UnixSocketDiag.get32(b, range.lowerBound + 4)),
                               up: UnixSocketDiag.get32(b, range.lowerBound + 8) & 1 != 0)  // IFF_UP
        var tunData: Range<Int>?
        TunLinks.attributes(b, (range.lowerBound + 16)..<range.upperBound) { type, value in
            let u32 = value.count >= 4 ? UnixSocketDiag.get32(b, value.lowerBound) : 0
            switch type {
            case iflaAddress: link.address = Array(b[value])
            case iflaName: link.name = String(decoding: b[value].prefix { $0 != 0 }, as: UTF8.self)
            case iflaMTU: link.mtu = u32
            case iflaLink: link.link = Int32(bitPattern: u32)
            case iflaMaster: link.master = Int32(bitPattern: u32)
            case iflaLinkNamespace where value.count >= 4: link.linkNamespace = Int32(bitPattern: u32)
            case iflaLinkInfo:
                TunLinks.attributes(b, value) { infoType, info in
                    if infoType == 1 { link.kind = String(decoding: b[info].prefix { $0 != 0 }, as: UTF8.self) }  // IFLA_INFO_KIND
                    if infoType == 2 { tunData = info }                                                              // IFLA_INFO_DATA
                }
            default: break
            }
        }
        guard !link.name.isEmpty else { return nil }
        if let data = tunData, link.kind == "macvlan" {
            TunLinks.attributes(b, data) { type, value in
                if type == 1 && value.count >= 4 { link.macvlanMode = UnixSocketDiag.get32(b, value.lowerBound) }  // IFLA_MACVLAN_MODE
            }
        }
        if link.kind == "tun" {
            var tun = TunLink(name: link.name, index: link.index, flags: 0, owner: -1, group: -1, mtu: link.mtu, address: link.address, up: link.up)
            if let data = tunData { TunLinks.tunData(b, data, into: &tun) }
            if tun.flags & TunLinks.tap == 0 { tun.address = [] }
            link.tun = tun
        }
        return link
    }

    /// The id the namespace `netlink` answers for gives the network
    /// namespace of process `pid` (RTM_GETNSID with NETNSA_PID); nil when it
    /// has given it none.
    public static func namespaceID(of pid: pid_t, netlink: NetlinkSource) throws -> Int32? {
        let sock = try netlink.socket(protocol: 0)
        defer { close(sock) }
        var body: [UInt8] = [0, 0, 0, 0]  // rtgenmsg, padded
        NetConfig.append(&body, 2, NetConfig.u32(UInt32(bitPattern: pid)))  // NETNSA_PID
        let reply = try NetConfig.ask(body, type: 90, on: sock, what: "asking the id of process \(pid)'s network namespace", flags: 0x1)  // RTM_GETNSID, NLM_F_REQUEST
        var id: Int32?
        if reply.count >= 20 {
            TunLinks.attributes(reply, 20..<reply.count) { type, value in
                if type == 1 && value.count >= 4 { id = Int32(bitPattern: UnixSocketDiag.get32(reply, value.lowerBound)) }  // NETNSA_NSID
            }
        }
        return id.flatMap { $0 < 0 ? nil : $0 }
    }

    /// Makes a device; false when one of its name is there already (EEXIST).
    @discardableResult
    public static func make(_ l: NewLink, on sock: Int32) throws -> Bool {
        var body = info(index: l.index)
        NetConfig.append(&body, iflaName, Array(l.name.utf8) + [0])
        if l.mtu > 0 { NetConfig.append(&body, iflaMTU, NetConfig.u32(l.mtu)) }
        if !l.address.isEmpty { NetConfig.append(&body, iflaAddress, l.address) }
        if l.lower > 0 { NetConfig.append(&body, iflaLink, NetConfig.u32(UInt32(bitPattern: l.lower))) }
        if let fd = l.namespaceFD { NetConfig.append(&body, iflaNamespaceFD, NetConfig.u32(UInt32(bitPattern: fd))) }
        var data: [UInt8] = []
        if l.kind == "macvlan" && l.macvlanMode != 0 { NetConfig.append(&data, 1, NetConfig.u32(l.macvlanMode)) }  // IFLA_MACVLAN_MODE
        if let p = l.peer {
            var peer = info(index: p.index)  // VETH_INFO_PEER: an ifinfomsg, then the peer's attributes
            if !p.name.isEmpty { NetConfig.append(&peer, iflaName, Array(p.name.utf8) + [0]) }
            if p.mtu > 0 { NetConfig.append(&peer, iflaMTU, NetConfig.u32(p.mtu)) }
            if !p.address.isEmpty { NetConfig.append(&peer, iflaAddress, p.address) }
            if let fd = l.peerNamespaceFD { NetConfig.append(&peer, iflaNamespaceFD, NetConfig.u32(UInt32(bitPattern: fd))) }
            NetConfig.append(&data, 1 | nested, peer)
        }
        var linkInfo: [UInt8] = []
        NetConfig.append(&linkInfo, 1, Array(l.kind.utf8))  // IFLA_INFO_KIND
        if !data.isEmpty { NetConfig.append(&linkInfo, 2 | nested, data) }  // IFLA_INFO_DATA
        NetConfig.append(&body, iflaLinkInfo | nested, linkInfo)
        return try NetConfig.change(body, type: NetConfig.rtmNewLink, on: sock, what: "making \(l.kind) device \(l.name)")
    }

    /// Moves device `index` of the socket's namespace into the namespace of
    /// `namespaceFD`, named `name` there, at index `newIndex` (0: any).
    public static func move(_ index: Int32, to namespaceFD: Int32, name: String, newIndex: Int32, on sock: Int32) throws {
        var body = info(index: index)
        NetConfig.append(&body, iflaNamespaceFD, NetConfig.u32(UInt32(bitPattern: namespaceFD)))
        NetConfig.append(&body, iflaName, Array(name.utf8) + [0])
        if newIndex > 0 { NetConfig.append(&body, iflaNewIndex, NetConfig.u32(UInt32(bitPattern: newIndex))) }
        try NetConfig.change(body, type: NetConfig.rtmNewLink, on: sock, what: "moving device \(index) in as \(name)", flags: 0x5)
    }

    /// Sets what is given of device `index`: its master (0: none), MTU, address, and up.
    public static func set(_ index: Int32, master: Int32? = nil, mtu: UInt32? = nil, address: [UInt8]? = nil, up: Bool? = nil,
                           on sock: Int32, what: String) throws {
        var body = info(index: index)
        if let up, up { body[8] = 1; body[12] = 1 }          // ifi_flags IFF_UP, ifi_change IFF_UP
        if let up, !up { body[12] = 1 }
        if let master { NetConfig.append(&body, iflaMaster, NetConfig.u32(UInt32(bitPattern: master))) }
        if let mtu { NetConfig.append(&body, iflaMTU, NetConfig.u32(mtu)) }
        if let address, !address.isEmpty { NetConfig.append(&body, iflaAddress, address) }
        try NetConfig.change(body, type: NetConfig.rtmNewLink, on: sock, what: what, flags: 0x5)
    }

    /// An ifinfomsg (16 bytes) for device `index`.
    private static func info(index: Int32) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 16)
        UnixSocketDiag.put32(&b, 4, UInt32(bitPattern: index))
        return b
    }
}
