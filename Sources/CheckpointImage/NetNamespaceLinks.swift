/// A virtual device of a saved network namespace that is made again
/// (since 2026-12-06): a veth end, a macvlan, a bridge or a dummy, with its
/// name, index, MTU, hardware address, up flag and master (the bridge it is
/// a port of, in the same namespace). A veth's other end and a macvlan's
/// lower device are its "peer": in the same namespace, in another saved one
/// (`peerNamespace` k), or outside the image (0: the checkpointer's
/// namespace, where cr_restart makes or finds it by `peerName`).
public struct VirtualLink: Equatable, Sendable {
    public static let kinds = ["veth", "macvlan", "bridge", "dummy"]

    public var name: String
    public var index: Int32
    public var kind: String
    public var mtu: UInt32
    public var address: [UInt8]
    public var up: Bool
    /// The bridge it is a port of, by name in its namespace ("" for none).
    public var master: String
    /// veth and macvlan: where the peer is (0: outside the image), its index there (0: unknown).
    public var peerNamespace: Int
    public var peerIndex: Int32
    /// A peer outside the image: its name, the bridge it was a port of, and its up flag, at the checkpoint.
    public var peerName: String
    public var peerMaster: String
    public var peerUp: Bool
    public var macvlanMode: UInt32

    public init(name: String, index: Int32, kind: String, mtu: UInt32, address: [UInt8], up: Bool, master: String = "",
                peerNamespace: Int = 0, peerIndex: Int32 = 0, peerName: String = "", peerMaster: String = "", peerUp: Bool = false, macvlanMode: UInt32 = 0) {
        self.name = name; self.index = index; self.kind = kind; self.mtu = mtu; self.address = address; self.up = up; self.master = master
        self.peerNamespace = peerNamespace; self.peerIndex = peerIndex; self.peerName = peerName; self.peerMaster = peerMaster
        self.peerUp = peerUp; self.macvlanMode = macvlanMode
    }

    public var hasPeer: Bool { kind == "veth" || kind == "macvlan" }

    enum Tag: UInt16, CaseIterable {
        case name = 1, index = 2, kind = 3, mtu = 4, address = 5, up = 6, master = 7, peerNamespace = 8, peerIndex = 9
        case peerName = 10, peerMaster = 11, peerUp = 12, macvlanMode = 13
    }

    func encode(into e: inout RecordEncoder) {
        e.string(Tag.name.rawValue, name)
        e.u64(Tag.index.rawValue, UInt64(index))
        e.string(Tag.kind.rawValue, kind)
        e.u64(Tag.mtu.rawValue, UInt64(mtu))
        if !address.isEmpty { e.raw(Tag.address.rawValue, address) }
        e.u64(Tag.up.rawValue, up ? 1 : 0)
        if !master.isEmpty { e.string(Tag.master.rawValue, master) }
        guard hasPeer else { return }
        e.u64(Tag.peerNamespace.rawValue, UInt64(peerNamespace))
        e.u64(Tag.peerIndex.rawValue, UInt64(peerIndex))
        if !peerName.isEmpty { e.string(Tag.peerName.rawValue, peerName) }
        if !peerMaster.isEmpty { e.string(Tag.peerMaster.rawValue, peerMaster) }
        e.u64(Tag.peerUp.rawValue, peerUp ? 1 : 0)
        if kind == "macvlan" { e.u64(Tag.macvlanMode.rawValue, UInt64(macvlanMode)) }
    }

    init(decoding d: RecordDecoder) throws {
        name = d.string(Tag.name.rawValue) ?? ""
        kind = d.string(Tag.kind.rawValue) ?? ""
        let i = try d.u64(Tag.index.rawValue, default: 0), m = try d.u64(Tag.mtu.rawValue, default: 0)
        address = d.raw(Tag.address.rawValue) ?? []
        let u = try d.u64(Tag.up.rawValue, default: 0)
        master = d.string(Tag.master.rawValue) ?? ""
        let pn = try d.u64(Tag.peerNamespace.rawValue, default: 0), pi = try d.u64(Tag.peerIndex.rawValue, default: 0)
        peerName = d.string(Tag.peerName.rawValue) ?? ""
        peerMaster = d.string(Tag.peerMaster.rawValue) ?? ""
        let pu = try d.u64(Tag.peerUp.rawValue, default: 0), mode = try d.u64(Tag.macvlanMode.rawValue, default: 0)
        guard TunDevice.validName(name), Self.kinds.contains(kind), i <= UInt64(Int32.max), m <= 65535, address.count <= 32, u <= 1,
              TunDevice.validName(master, orEmpty: true), pn <= 4096, pi <= UInt64(Int32.max), TunDevice.validName(peerName, orEmpty: true),
              TunDevice.validName(peerMaster, orEmpty: true), pu <= 1, mode <= 0xff else {
            throw ImageError.malformed(what: "network device \"\(name.prefix(40))\" of kind \"\(kind.prefix(20))\": index \(i), MTU \(m), peer \(pi) in namespace \(pn), mode \(mode)", offset: d.base)
        }
        (index, mtu, up, peerNamespace, peerIndex, peerUp, macvlanMode) = (Int32(i), UInt32(m), u == 1, Int(pn), Int32(pi), pu == 1, UInt32(mode))
    }
}

/// A saved network namespace's firewall rules of one kind, in the text its
/// tool reads back (since 2026-12-06): iptables-legacy-save's,
/// ip6tables-legacy-save's, iptables-nft-save's, ip6tables-nft-save's, or
/// nft's listing of the other nf_tables tables.
public struct FirewallRules: Equatable, Sendable {
    public static let kinds = ["iptables-legacy", "ip6tables-legacy", "iptables-nft", "ip6tables-nft", "nft"]
    public var kind: String
    public var text: String

    public init(kind: String, text: String) { self.kind = kind; self.text = text }

    enum Tag: UInt16, CaseIterable { case kind = 1, text = 2 }

    func encode(into e: inout RecordEncoder) {
        e.string(Tag.kind.rawValue, kind)
        e.string(Tag.text.rawValue, text)
    }

    init(decoding d: RecordDecoder) throws {
        kind = d.string(Tag.kind.rawValue) ?? ""
        let bytes = d.raw(Tag.text.rawValue) ?? []
        text = String(decoding: bytes, as: UTF8.self)
        guard Self.kinds.contains(kind), bytes.count <= 16 << 20, !bytes.contains(0) else {
            throw ImageError.malformed(what: "firewall rules of kind \"\(kind.prefix(20))\" (\(bytes.count) bytes)", offset: d.base)
        }
    }
}
