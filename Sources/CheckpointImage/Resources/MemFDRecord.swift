/// A memfd: its seals (F_GET_SEALS) and size. Its contents ride in the
/// descriptor's `fileContents`, on the first descriptor of it only.
public struct MemFDRecord: DescriptorPayloadRecord {
    public var seals: UInt64
    public var size: UInt64
    /// Since 1.3: its permission bits (fchmod); nil if not saved.
    public var mode: UInt64? = nil
    public init(seals: UInt64, size: UInt64, mode: UInt64? = nil) { self.seals = seals; self.size = size; self.mode = mode }

    enum Tag: UInt16, CaseIterable { case seals = 1, size = 2, mode = 3 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.seals.rawValue, seals)
        e.u64(Tag.size.rawValue, size)
        if let mode { e.u64(Tag.mode.rawValue, mode) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        seals = try d.u64(Tag.seals.rawValue, default: 0)
        size = try d.u64(Tag.size.rawValue, "memfd size")
        if d.first(Tag.mode.rawValue) != nil { mode = try d.u64(Tag.mode.rawValue, "memfd mode") & 0o7777 }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        let v = try legacy.values(2, "memfd", fd: fd)
        self.init(seals: v[0], size: v[1])
    }
}
