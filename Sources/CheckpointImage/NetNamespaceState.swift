/// Since 2026-12-04: a network namespace of the tree other than the
/// checkpointer's (`unshare -n`, a sandbox): whether its loopback was up,
/// the names of its other interfaces that are not saved, and (since
/// 2026-12-05) its TUN/TAP devices, which are made again.
public struct NetNamespaceState: Equatable, Sendable {
    public var loopbackUp: Bool
    public var otherInterfaces: [String]
    public var tunDevices: [TunDevice] = []
    /// Its veth, macvlan, bridge and dummy devices (since 2026-12-06).
    public var links: [VirtualLink] = []
    /// Its firewall rules, a record per tool (since 2026-12-06).
    public var firewall: [FirewallRules] = []
    /// The addresses of the loopback and the TUN/TAP devices, and the routes through them.
    public var addresses: [SavedAddress] = []
    public var routes: [SavedRoute] = []
    /// Settings under /proc/sys/net that differ from a new namespace's, as
    /// (path below /proc/sys/net, value), in the order they are written back.
    public var sysctls: [(path: String, value: String)] = []

    public init(loopbackUp: Bool, otherInterfaces: [String], tunDevices: [TunDevice] = [], addresses: [SavedAddress] = [], routes: [SavedRoute] = [],
                sysctls: [(path: String, value: String)] = []) {
        self.loopbackUp = loopbackUp; self.otherInterfaces = otherInterfaces; self.tunDevices = tunDevices
        self.addresses = addresses; self.routes = routes; self.sysctls = sysctls
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.loopbackUp == b.loopbackUp && a.otherInterfaces == b.otherInterfaces && a.tunDevices == b.tunDevices && a.links == b.links && a.firewall == b.firewall && a.addresses == b.addresses
            && a.routes == b.routes && a.sysctls.map { [$0.path, $0.value] } == b.sysctls.map { [$0.path, $0.value] }
    }

    enum Tag: UInt16, CaseIterable { case loopbackUp = 1, otherInterface = 2, tunDevice = 3, address = 4, route = 5, sysctl = 6, link = 7, firewall = 8 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.loopbackUp.rawValue, loopbackUp ? 1 : 0)
        for name in otherInterfaces { e.string(Tag.otherInterface.rawValue, name) }
        for device in tunDevices { e.record(Tag.tunDevice.rawValue) { device.encode(into: &$0) } }
        for link in links { e.record(Tag.link.rawValue) { link.encode(into: &$0) } }
        for rules in firewall { e.record(Tag.firewall.rawValue) { rules.encode(into: &$0) } }
        for a in addresses { e.record(Tag.address.rawValue) { a.encode(into: &$0) } }
        for r in routes { e.record(Tag.route.rawValue) { r.encode(into: &$0) } }
        for s in sysctls { e.string(Tag.sysctl.rawValue, "\(s.path)=\(s.value)") }
    }

    init(decoding d: RecordDecoder) throws {
        loopbackUp = try d.u64(Tag.loopbackUp.rawValue, default: 0) != 0
        otherInterfaces = d.fields.filter { $0.tag == Tag.otherInterface.rawValue }.map { String(decoding: d.bytes[$0.range], as: UTF8.self) }
        tunDevices = try d.records(Tag.tunDevice.rawValue, name: "tun device").map { try TunDevice(decoding: $0) }
        links = try d.records(Tag.link.rawValue, name: "network device").map { try VirtualLink(decoding: $0) }
        firewall = try d.records(Tag.firewall.rawValue, name: "firewall rules").map { try FirewallRules(decoding: $0) }
        addresses = try d.records(Tag.address.rawValue, name: "interface address").map { try SavedAddress(decoding: $0) }
        routes = try d.records(Tag.route.rawValue, name: "route").map { try SavedRoute(decoding: $0) }
        for f in d.fields where f.tag == Tag.sysctl.rawValue {
            let text = String(decoding: d.bytes[f.range], as: UTF8.self)
            guard let eq = text.firstIndex(of: "="), case let path = String(text[..<eq]), case let value = String(text[text.index(after: eq)...]),
                  Self.knownSysctl(path), value.utf8.count <= 256, !value.utf8.contains(0), !value.contains("\n") else {
                throw ImageError.malformed(what: "network namespace setting \"\(text.prefix(80))\"", offset: d.offset(of: f.range))
            }
            sysctls.append((path, value))
        }
        let names = tunDevices.map(\.name) + links.map(\.name)
        guard Set(names).count == names.count else {
            throw ImageError.malformed(what: "network namespace with two devices of one name", offset: d.base)
        }
    }
}

extension NetNamespaceState {
    /// A path below /proc/sys/net a setting may have (LinuxKit's NetSysctls
    /// lists: the namespace's own, then per device, `all` and `default`).
    static func knownSysctl(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...4).contains(parts.count), ["ipv4", "ipv6", "core", "unix"].contains(parts[0]),
              parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && $0.utf8.count < 64 }) else { return false }
        if parts.count == 4 { return parts[1] == "conf" && TunDevice.validName(parts[2]) }
        return parts.count == 2 && parts[1].utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x5f || ($0 >= 0x30 && $0 <= 0x39) }
    }
}

/// A TUN/TAP device: made again in its namespace with its name, index,
/// flags, owner, group, MTU, address, up flag and master bridge.
public struct TunDevice: Equatable, Sendable {
    public var name: String
    public var index: Int32
    /// TUNSETIFF flags (IFF_TUN 0x1 or IFF_TAP 0x2, IFF_NO_PI 0x1000,
    /// IFF_VNET_HDR 0x4000, IFF_MULTI_QUEUE 0x100) and IFF_PERSIST 0x800.
    public var flags: UInt32
    public var owner: Int64
    public var group: Int64
    public var mtu: UInt32
    public var address: [UInt8]
    public var up: Bool
    /// The bridge a TAP device is a port of ("" for none; since 2026-12-06).
    public var master: String

    public init(name: String, index: Int32, flags: UInt32, owner: Int64, group: Int64, mtu: UInt32, address: [UInt8], up: Bool, master: String = "") {
        self.name = name; self.index = index; self.flags = flags; self.owner = owner; self.group = group
        self.mtu = mtu; self.address = address; self.up = up; self.master = master
    }

    public static let flagMask: UInt32 = 0x1 | 0x2 | 0x1000 | 0x4000 | 0x100 | 0x800

    /// An interface name: 1 to 15 bytes, no '/', ':' or white space (dev_valid_name).
    public static func validName(_ name: String, orEmpty: Bool = false) -> Bool {
        if name.isEmpty { return orEmpty }
        let bytes = Array(name.utf8)
        return bytes.count < 16 && name != "." && name != ".." && !bytes.contains { $0 == 0x2f || $0 == 0x3a || $0 <= 0x20 }
    }

    enum Tag: UInt16, CaseIterable { case name = 1, index = 2, flags = 3, owner = 4, group = 5, mtu = 6, address = 7, up = 8, master = 9 }

    func encode(into e: inout RecordEncoder) {
        e.string(Tag.name.rawValue, name)
        e.u64(Tag.index.rawValue, UInt64(index))
        e.u64(Tag.flags.rawValue, UInt64(flags))
        e.i64(Tag.owner.rawValue, owner)
        e.i64(Tag.group.rawValue, group)
        e.u64(Tag.mtu.rawValue, UInt64(mtu))
        if !address.isEmpty { e.raw(Tag.address.rawValue, address) }
        e.u64(Tag.up.rawValue, up ? 1 : 0)
        if !master.isEmpty { e.string(Tag.master.rawValue, master) }
    }

    init(decoding d: RecordDecoder) throws {
        name = d.string(Tag.name.rawValue) ?? ""
        master = d.string(Tag.master.rawValue) ?? ""
        let i = try d.u64(Tag.index.rawValue, default: 0), f = try d.u64(Tag.flags.rawValue, "tun device flags")
        owner = try d.i64(Tag.owner.rawValue, "tun device owner")
        group = try d.i64(Tag.group.rawValue, "tun device group")
        let m = try d.u64(Tag.mtu.rawValue, default: 0)
        address = d.raw(Tag.address.rawValue) ?? []
        let u = try d.u64(Tag.up.rawValue, default: 0)
        guard Self.validName(name), i <= UInt64(Int32.max), f <= UInt64(Self.flagMask), f & 3 == 1 || f & 3 == 2,
              (-1...Int64(UInt32.max - 1)).contains(owner), (-1...Int64(UInt32.max - 1)).contains(group),
              m <= 65535, address.count <= 32, u <= 1, Self.validName(master, orEmpty: true) else {
            throw ImageError.malformed(what: "tun device \"\(name)\": index \(i), flags 0x\(String(f, radix: 16)), owner \(owner), group \(group), MTU \(m), \(address.count)-byte address", offset: d.base)
        }
        index = Int32(i)
        flags = UInt32(f)
        mtu = UInt32(m)
        up = u == 1
    }
}
