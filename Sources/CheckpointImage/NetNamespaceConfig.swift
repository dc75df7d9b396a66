/// An IPv4 or IPv6 address of one of a saved network namespace's interfaces
/// (the loopback or a TUN/TAP device), since 2026-12-05.
public struct SavedAddress: Equatable, Sendable {
    public var family: UInt8
    public var prefixLength: UInt8
    public var flags: UInt32
    public var scope: UInt8
    public var interface: String
    public var local: [UInt8]
    public var peer: [UInt8]
    public var broadcast: [UInt8]
    public var label: String

    public init(family: UInt8, prefixLength: UInt8, flags: UInt32, scope: UInt8, interface: String, local: [UInt8],
                peer: [UInt8], broadcast: [UInt8], label: String) {
        self.family = family; self.prefixLength = prefixLength; self.flags = flags; self.scope = scope; self.interface = interface
        self.local = local; self.peer = peer; self.broadcast = broadcast; self.label = label
    }

    enum Tag: UInt16, CaseIterable { case family = 1, prefixLength = 2, flags = 3, scope = 4, interface = 5, local = 6, peer = 7, broadcast = 8, label = 9 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.family.rawValue, UInt64(family))
        e.u64(Tag.prefixLength.rawValue, UInt64(prefixLength))
        e.u64(Tag.flags.rawValue, UInt64(flags))
        e.u64(Tag.scope.rawValue, UInt64(scope))
        e.string(Tag.interface.rawValue, interface)
        e.raw(Tag.local.rawValue, local)
        if !peer.isEmpty { e.raw(Tag.peer.rawValue, peer) }
        if !broadcast.isEmpty { e.raw(Tag.broadcast.rawValue, broadcast) }
        if !label.isEmpty { e.string(Tag.label.rawValue, label) }
    }

    init(decoding d: RecordDecoder) throws {
        let f = try d.u64(Tag.family.rawValue, "address family"), p = try d.u64(Tag.prefixLength.rawValue, "prefix length")
        let fl = try d.u64(Tag.flags.rawValue, default: 0), sc = try d.u64(Tag.scope.rawValue, default: 0)
        interface = d.string(Tag.interface.rawValue) ?? ""
        local = d.raw(Tag.local.rawValue) ?? []
        peer = d.raw(Tag.peer.rawValue) ?? []
        broadcast = d.raw(Tag.broadcast.rawValue) ?? []
        label = d.string(Tag.label.rawValue) ?? ""
        let size = f == 2 ? 4 : 16
        guard f == 2 || f == 10, p <= UInt64(size * 8), fl <= UInt64(UInt32.max), sc <= 255, TunDevice.validName(interface), local.count == size,
              peer.isEmpty || peer.count == size, broadcast.isEmpty || broadcast.count == size, label.utf8.count < 16 else {
            throw ImageError.malformed(what: "interface address on \"\(interface)\": family \(f), /\(p), \(local.count) bytes", offset: d.base)
        }
        (family, prefixLength, flags, scope) = (UInt8(f), UInt8(p), UInt32(fl), UInt8(sc))
    }
}

/// A route a program set in a saved network namespace (not one the kernel
/// keeps for an address, nor the local table's), since 2026-12-05.
public struct SavedRoute: Equatable, Sendable {
    public var family: UInt8
    public var destinationLength: UInt8
    public var table: UInt32
    public var proto: UInt8
    public var scope: UInt8
    public var type: UInt8
    public var destination: [UInt8]
    public var gateway: [UInt8]
    public var interface: String
    public var priority: UInt32?
    public var preferredSource: [UInt8]

    public init(family: UInt8, destinationLength: UInt8, table: UInt32, proto: UInt8, scope: UInt8, type: UInt8, destination: [UInt8],
                gateway: [UInt8], interface: String, priority: UInt32?, preferredSource: [UInt8]) {
        self.family = family; self.destinationLength = destinationLength; self.table = table; self.proto = proto; self.scope = scope
        self.type = type; self.destination = destination; self.gateway = gateway; self.interface = interface
        self.priority = priority; self.preferredSource = preferredSource
    }

    enum Tag: UInt16, CaseIterable {
        case family = 1, destinationLength = 2, table = 3, proto = 4, scope = 5, type = 6, destination = 7, gateway = 8, interface = 9
        case priority = 10, preferredSource = 11
    }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.family.rawValue, UInt64(family))
        e.u64(Tag.destinationLength.rawValue, UInt64(destinationLength))
        e.u64(Tag.table.rawValue, UInt64(table))
        e.u64(Tag.proto.rawValue, UInt64(proto))
        e.u64(Tag.scope.rawValue, UInt64(scope))
        e.u64(Tag.type.rawValue, UInt64(type))
        if !destination.isEmpty { e.raw(Tag.destination.rawValue, destination) }
        if !gateway.isEmpty { e.raw(Tag.gateway.rawValue, gateway) }
        if !interface.isEmpty { e.string(Tag.interface.rawValue, interface) }
        if let priority { e.u64(Tag.priority.rawValue, UInt64(priority)) }
        if !preferredSource.isEmpty { e.raw(Tag.preferredSource.rawValue, preferredSource) }
    }

    init(decoding d: RecordDecoder) throws {
        let f = try d.u64(Tag.family.rawValue, "route family"), l = try d.u64(Tag.destinationLength.rawValue, "route prefix length")
        let t = try d.u64(Tag.table.rawValue, "route table"), pr = try d.u64(Tag.proto.rawValue, default: 3)
        let sc = try d.u64(Tag.scope.rawValue, default: 0), ty = try d.u64(Tag.type.rawValue, default: 1)
        destination = d.raw(Tag.destination.rawValue) ?? []
        gateway = d.raw(Tag.gateway.rawValue) ?? []
        interface = d.string(Tag.interface.rawValue) ?? ""
        let p = try d.optionalU64(Tag.priority.rawValue)
        preferredSource = d.raw(Tag.preferredSource.rawValue) ?? []
        let size = f == 2 ? 4 : 16
        guard f == 2 || f == 10, l <= UInt64(size * 8), (1...UInt64(UInt32.max)).contains(t), t != 255, pr <= 255, sc <= 255, [1, 6, 7, 8].contains(ty),
              destination.isEmpty || destination.count == size, gateway.isEmpty || gateway.count == size,
              preferredSource.isEmpty || preferredSource.count == size, TunDevice.validName(interface, orEmpty: true),
              p.map({ $0 <= UInt64(UInt32.max) }) ?? true else {
            throw ImageError.malformed(what: "route of family \(f) /\(l) in table \(t), type \(ty), through \"\(interface)\"", offset: d.base)
        }
        (family, destinationLength, table, proto, scope, type) = (UInt8(f), UInt8(l), UInt32(t), UInt8(pr), UInt8(sc), UInt8(ty))
        priority = p.map { UInt32($0) }
    }
}
