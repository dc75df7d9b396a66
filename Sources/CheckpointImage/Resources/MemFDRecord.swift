/// A memfd: its seals (F_GET_SEALS) and size. Its contents ride in the
/// descriptor's `fileContents`, on the first descriptor of it only.
public struct MemFDRecord: DescriptorPayloadRecord {
    public var seals: UInt64
    public var size: UInt64
    /// Since 1.3: its permission bits (fchmod); nil if not saved.
    public var mode: UInt64? = nil
    /// Written since 2026-12-04 within 1.6: a hugetlb memfd's (MFD_HUGETLB) huge page size; 0 for an ordinary one.
    public var hugePageSize: UInt64 = 0
    public init(seals: UInt64, size: UInt64, mode: UInt64? = nil, hugePageSize: UInt64 = 0) {
        self.seals = seals; self.size = size; self.mode = mode; self.hugePageSize = hugePageSize
    }

    enum Tag: UInt16, CaseIterable { case seals = 1, size = 2, mode = 3, hugePageSize = 4 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.seals.rawValue, seals)
        e.u64(Tag.size.rawValue, size)
        if let mode { e.u64(Tag.mode.rawValue, mode) }
        if hugePageSize != 0 { e.u64(Tag.hugePageSize.rawValue, hugePageSize) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        seals = try d.u64(Tag.seals.rawValue, default: 0)
        size = try d.u64(Tag.size.rawValue, "memfd size")
        if d.first(Tag.mode.rawValue) != nil { mode = try d.u64(Tag.mode.rawValue, "memfd mode") & 0o7777 }
        hugePageSize = try d.u64(Tag.hugePageSize.rawValue, default: 0)
        guard hugePageSize == 0 || (hugePageSize > 4096 && hugePageSize <= 1 << 34 && hugePageSize & (hugePageSize - 1) == 0) else {
            throw ImageError.malformed(what: "fd \(fd): memfd huge page size \(hugePageSize) is not a power of two", offset: d.base)
        }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        let v = try legacy.values(2, "memfd", fd: fd)
        self.init(seals: v[0], size: v[1])
    }
}
