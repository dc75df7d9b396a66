/// A named FIFO: its permission bits, for making it again if it is gone.
public struct FIFORecord: DescriptorPayloadRecord {
    public var mode: UInt64
    public init(mode: UInt64) { self.mode = mode }

    enum Tag: UInt16, CaseIterable { case mode = 1 }

    func encode(into e: inout RecordEncoder) { e.u64(Tag.mode.rawValue, mode) }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        mode = try d.u64(Tag.mode.rawValue, default: 0o600)
        guard mode <= 0o7777 else { throw ImageError.malformed(what: "fifo fd \(fd): mode 0o\(String(mode, radix: 8))", offset: d.base) }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws { mode = try legacy.values(1, "fifo", fd: fd)[0] & 0o7777 }
}
