/// What belongs to the checkpointed tree rather than to one of its
/// processes (TREE section, since 1.2): the SysV IPC objects the processes
/// use and the PIDs libcr callbacks omitted. Images before 1.2 carried them
/// in the first PROCESS record (tags 27, 29); readers take them from there.
public struct TreeState: Equatable, Sendable {
    public var sysvObjects: [SysVObject] = []
    /// PIDs of the scope a libcr callback omitted (CR_CHECKPOINT_OMIT).
    public var omittedPIDs: [Int32] = []

    public init(sysvObjects: [SysVObject] = [], omittedPIDs: [Int32] = []) {
        self.sysvObjects = sysvObjects
        self.omittedPIDs = omittedPIDs
    }

    public var isEmpty: Bool { sysvObjects.isEmpty && omittedPIDs.isEmpty }

    /// The tree-wide objects of an image before 1.2, from its PROCESS records.
    public init(legacy processes: [ProcessState]) {
        self.init(sysvObjects: processes.flatMap(\.sysvObjects), omittedPIDs: processes.flatMap(\.omittedPIDs))
    }

    /// Numbered by hand: a tag's number is the format, never its position here.
    enum Tag: UInt16, CaseIterable { case sysv = 1, omittedPIDs = 2 }

    public func encode() -> [UInt8] {
        var e = RecordEncoder()
        for o in sysvObjects { e.record(Tag.sysv.rawValue) { o.encode(into: &$0) } }
        if !omittedPIDs.isEmpty { e.u64s(Tag.omittedPIDs.rawValue, omittedPIDs.map { UInt64(UInt32(bitPattern: $0)) }) }
        return e.bytes
    }

    public init(decoding d: RecordDecoder) throws {
        sysvObjects = try d.records(Tag.sysv.rawValue, name: "SysV object").map { try SysVObject(decoding: $0) }
        omittedPIDs = try d.u64s(Tag.omittedPIDs.rawValue).map { v in
            guard v > 0, v <= UInt64(Int32.max) else { throw ImageError.malformed(what: "omitted PID \(v)", offset: d.base) }
            return Int32(v)
        }
    }
}
