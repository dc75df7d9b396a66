/// Since 2026-12-06: a user namespace of the tree other than the
/// checkpointer's, one level below it (`unshare -U`, `unshare -Ur`): its
/// ID maps as the checkpointer read them (inside, outside in the
/// checkpointer's namespace, count), whether setgroups is allowed in it,
/// and its owner. The processes' IDs elsewhere in the image stay the
/// checkpointer's view; the maps turn them into the IDs inside.
public struct UserNamespaceState: Equatable, Sendable {
    public struct Range: Equatable, Sendable {
        public var inside: UInt32
        public var outside: UInt32
        public var count: UInt32
        public init(inside: UInt32, outside: UInt32, count: UInt32) { self.inside = inside; self.outside = outside; self.count = count }
    }

    public var uidMap: [Range]
    public var gidMap: [Range]
    public var setgroupsAllowed: Bool
    /// The owner's user ID (the euid of its creator) in the checkpointer's namespace.
    public var owner: UInt32

    public init(uidMap: [Range], gidMap: [Range], setgroupsAllowed: Bool, owner: UInt32) {
        self.uidMap = uidMap
        self.gidMap = gidMap
        self.setgroupsAllowed = setgroupsAllowed
        self.owner = owner
    }

    /// The kernel takes at most 340 lines per map.
    public static let maxRanges = 340

    /// /proc/PID/uid_map or gid_map ("INSIDE OUTSIDE COUNT" a line); nil
    /// for text that is not such a map (ranges that wrap or overlap inside).
    public static func parseMap(_ text: String) -> [Range]? {
        var ranges: [Range] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
            guard fields.count == 3 else { return nil }
            ranges.append(Range(inside: fields[0], outside: fields[1], count: fields[2]))
        }
        return valid(ranges) ? ranges : nil
    }

    static func valid(_ ranges: [Range]) -> Bool {
        guard ranges.count <= maxRanges else { return false }
        for r in ranges {
            guard r.count > 0, UInt64(r.inside) + UInt64(r.count) <= 1 << 32, UInt64(r.outside) + UInt64(r.count) <= 1 << 32 else { return false }
        }
        let sorted = ranges.sorted { $0.inside < $1.inside }
        return zip(sorted, sorted.dropFirst()).allSatisfy { UInt64($0.inside) + UInt64($0.count) <= UInt64($1.inside) }
    }

    /// The text written to uid_map or gid_map to make the map again.
    public static func text(_ ranges: [Range]) -> String {
        ranges.map { "\($0.inside) \($0.outside) \($0.count)\n" }.joined()
    }

    /// The ID inside for `outside`; nil where the map does not name it.
    public static func inside(_ outside: UInt64, in ranges: [Range]) -> UInt64? {
        for r in ranges where outside >= UInt64(r.outside) && outside < UInt64(r.outside) + UInt64(r.count) {
            return UInt64(r.inside) + outside - UInt64(r.outside)
        }
        return nil
    }

    enum Tag: UInt16, CaseIterable { case uidMap = 1, gidMap = 2, setgroups = 3, owner = 4 }

    func encode(into e: inout RecordEncoder) {
        e.u64s(Tag.uidMap.rawValue, uidMap.flatMap { [UInt64($0.inside), UInt64($0.outside), UInt64($0.count)] })
        e.u64s(Tag.gidMap.rawValue, gidMap.flatMap { [UInt64($0.inside), UInt64($0.outside), UInt64($0.count)] })
        e.u64(Tag.setgroups.rawValue, setgroupsAllowed ? 1 : 0)
        e.u64(Tag.owner.rawValue, UInt64(owner))
    }

    init(decoding d: RecordDecoder) throws {
        func map(_ tag: Tag, _ what: String) throws -> [Range] {
            let v = try d.u64s(tag.rawValue)
            guard v.count % 3 == 0, v.allSatisfy({ $0 <= UInt64(UInt32.max) }) else {
                throw ImageError.malformed(what: "user namespace \(what) map of \(v.count) numbers", offset: d.base)
            }
            let ranges = stride(from: 0, to: v.count, by: 3).map { Range(inside: UInt32(v[$0]), outside: UInt32(v[$0 + 1]), count: UInt32(v[$0 + 2])) }
            guard Self.valid(ranges) else { throw ImageError.malformed(what: "user namespace \(what) map \(Self.text(ranges).prefix(80).split(separator: "\n").joined(separator: ", "))", offset: d.base) }
            return ranges
        }
        uidMap = try map(.uidMap, "user ID")
        gidMap = try map(.gidMap, "group ID")
        let setgroups = try d.u64(Tag.setgroups.rawValue, default: 1)
        guard setgroups <= 1 else { throw ImageError.malformed(what: "user namespace setgroups \(setgroups)", offset: d.base) }
        setgroupsAllowed = setgroups == 1
        let owner = try d.u64(Tag.owner.rawValue, default: 0)
        guard owner <= UInt64(UInt32.max) else { throw ImageError.malformed(what: "user namespace owner \(owner)", offset: d.base) }
        self.owner = UInt32(owner)
    }

    /// The kinds of namespace a process's PROCESS tag 52 names (mount, network, IPC, UTS), in that order.
    public static func ownedKinds(_ bits: UInt64) -> [String] {
        [(UInt64(0x2_0000), "mount"), (0x4000_0000, "network"), (0x0800_0000, "IPC"), (0x0400_0000, "UTS")].compactMap { bits & $0.0 != 0 ? $0.1 : nil }
    }
}
