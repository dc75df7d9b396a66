/// An AF_PACKET socket (since 1.3): what packet_diag reports of it, set
/// again in this order at restart: options, bind, memberships, rings, fanout.
public struct PacketSocketRecord: DescriptorPayloadRecord {
    /// SOCK_RAW (3) or SOCK_DGRAM (2).
    public var type: UInt64
    /// The Ethernet protocol it takes (host order; 0: none yet).
    public var `protocol`: UInt64
    /// The interface it is bound to (0: all).
    public var interface: UInt64 = 0
    /// PACKET_VERSION, PACKET_RESERVE, PACKET_COPY_THRESH, PACKET_TIMESTAMP.
    public var version: UInt64 = 0, reserve: UInt64 = 0, copyThreshold: UInt64 = 0, timestamp: UInt64 = 0
    /// packet_diag's flags: 2 PACKET_AUXDATA, 4 PACKET_ORIGDEV, 8 PACKET_VNET_HDR, 16 PACKET_LOSS.
    public var flags: UInt64 = 0
    /// Memberships (PACKET_ADD_MEMBERSHIP): interface, type, how many times added, address bytes.
    public var memberships: [Membership] = []
    /// PACKET_RX_RING and PACKET_TX_RING (tpacket_req3's seven fields), empty for none.
    public var receiveRing: [UInt64] = [], transmitRing: [UInt64] = []
    /// PACKET_FANOUT's value (group ID | type and flags << 16), nil if in no group.
    public var fanout: UInt64? = nil

    public struct Membership: Equatable, Sendable {
        public var interface: UInt64, type: UInt64, count: UInt64
        public var address: [UInt8]
        public init(interface: UInt64, type: UInt64, count: UInt64, address: [UInt8]) {
            self.interface = interface; self.type = type; self.count = count; self.address = address
        }
    }

    public init(type: UInt64, protocol: UInt64) { self.type = type; self.protocol = `protocol` }

    enum Tag: UInt16, CaseIterable {
        case type = 1, `protocol` = 2, interface = 3, version = 4, reserve = 5, copyThreshold = 6, timestamp = 7, flags = 8
        case membership = 9, receiveRing = 10, transmitRing = 11, fanout = 12
    }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.type.rawValue, type)
        e.u64(Tag.protocol.rawValue, `protocol`)
        e.u64(Tag.interface.rawValue, interface)
        e.u64(Tag.version.rawValue, version)
        e.u64(Tag.reserve.rawValue, reserve)
        e.u64(Tag.copyThreshold.rawValue, copyThreshold)
        e.u64(Tag.timestamp.rawValue, timestamp)
        e.u64(Tag.flags.rawValue, flags)
        for m in memberships { e.u64s(Tag.membership.rawValue, [m.interface, m.type, m.count] + m.address.map { UInt64($0) }) }
        if !receiveRing.isEmpty { e.u64s(Tag.receiveRing.rawValue, receiveRing) }
        if !transmitRing.isEmpty { e.u64s(Tag.transmitRing.rawValue, transmitRing) }
        if let fanout { e.u64(Tag.fanout.rawValue, fanout) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        self.init(type: try d.u64(Tag.type.rawValue, "packet socket type"), protocol: try d.u64(Tag.protocol.rawValue, default: 0))
        interface = try d.u64(Tag.interface.rawValue, default: 0)
        version = try d.u64(Tag.version.rawValue, default: 0)
        reserve = try d.u64(Tag.reserve.rawValue, default: 0)
        copyThreshold = try d.u64(Tag.copyThreshold.rawValue, default: 0)
        timestamp = try d.u64(Tag.timestamp.rawValue, default: 0)
        flags = try d.u64(Tag.flags.rawValue, default: 0)
        for f in d.fields where f.tag == Tag.membership.rawValue {
            let v = try d.u64s(in: f.range, tag: f.tag)
            guard v.count >= 3, v.count <= 3 + 32, v[0] <= UInt64(Int32.max), v[1] <= 0xffff, v.dropFirst(3).allSatisfy({ $0 <= 0xff }) else {
                throw ImageError.malformed(what: "packet socket fd \(fd): membership \(v)", offset: d.offset(of: f.range))
            }
            memberships.append(Membership(interface: v[0], type: v[1], count: v[2], address: v.dropFirst(3).map { UInt8($0) }))
        }
        receiveRing = try d.u64s(Tag.receiveRing.rawValue)
        transmitRing = try d.u64s(Tag.transmitRing.rawValue)
        fanout = try d.optionalU64(Tag.fanout.rawValue)
        let small = [interface, version, reserve, copyThreshold, timestamp, flags].allSatisfy { $0 <= UInt64(Int32.max) }
        guard type <= 10, `protocol` <= 0xffff, small, [0, 7].contains(receiveRing.count), [0, 7].contains(transmitRing.count),
              (receiveRing + transmitRing).allSatisfy({ $0 <= UInt64(UInt32.max) }), (fanout ?? 0) <= UInt64(UInt32.max) else {
            throw ImageError.malformed(what: "packet socket fd \(fd): type \(type), protocol \(`protocol`), rings \(receiveRing) \(transmitRing)", offset: d.base)
        }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        throw ImageError.malformed(what: "packet socket fd \(fd) in an image before 1.3", offset: legacy.base)
    }
}
