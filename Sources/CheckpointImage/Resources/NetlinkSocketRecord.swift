/// An AF_NETLINK socket (written since 2026-12-03): its protocol, the port
/// and groups it is bound to, every multicast group it joined, and where it
/// is connected. Messages waiting in it are not kept.
public struct NetlinkSocketRecord: DescriptorPayloadRecord {
    /// SOCK_RAW (3) or SOCK_DGRAM (2).
    public var type: UInt64
    /// NETLINK_ROUTE (0), NETLINK_KOBJECT_UEVENT (15)...
    public var `protocol`: UInt64
    /// The port ID it is bound to (0: not bound yet).
    public var portID: UInt64 = 0
    /// Every multicast group joined, by number (1 and up).
    public var groups: [UInt64] = []
    /// connect()ed to this port ID and groups bitmap (both 0: not connected).
    public var peerPortID: UInt64 = 0, peerGroups: UInt64 = 0

    public init(type: UInt64, protocol: UInt64) { self.type = type; self.protocol = `protocol` }

    enum Tag: UInt16, CaseIterable { case type = 1, `protocol` = 2, portID = 3, groups = 4, peerPortID = 5, peerGroups = 6 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.type.rawValue, type)
        e.u64(Tag.protocol.rawValue, `protocol`)
        if portID != 0 { e.u64(Tag.portID.rawValue, portID) }
        if !groups.isEmpty { e.u64s(Tag.groups.rawValue, groups) }
        if peerPortID != 0 { e.u64(Tag.peerPortID.rawValue, peerPortID) }
        if peerGroups != 0 { e.u64(Tag.peerGroups.rawValue, peerGroups) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        self.init(type: try d.u64(Tag.type.rawValue, "netlink socket type"), protocol: try d.u64(Tag.protocol.rawValue, default: 0))
        portID = try d.u64(Tag.portID.rawValue, default: 0)
        groups = try d.u64s(Tag.groups.rawValue)
        peerPortID = try d.u64(Tag.peerPortID.rawValue, default: 0)
        peerGroups = try d.u64(Tag.peerGroups.rawValue, default: 0)
        let u32 = UInt64(UInt32.max)
        guard type <= 10, `protocol` <= 31, portID <= u32, peerPortID <= u32, peerGroups <= u32, groups.count <= 4096,
              groups.allSatisfy({ $0 >= 1 && $0 <= u32 }) else {
            throw ImageError.malformed(what: "netlink socket fd \(fd): type \(type), protocol \(`protocol`), port \(portID), groups \(groups.prefix(4))", offset: d.base)
        }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        throw ImageError.malformed(what: "netlink socket fd \(fd) in an image before 1.3", offset: legacy.base)
    }
}
