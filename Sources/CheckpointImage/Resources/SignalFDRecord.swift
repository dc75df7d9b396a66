/// signalfd: the signals it reads (bit n-1 = signal n).
public struct SignalFDRecord: DescriptorPayloadRecord {
    public var mask: UInt64
    public init(mask: UInt64) { self.mask = mask }

    enum Tag: UInt16, CaseIterable { case mask = 1 }

    func encode(into e: inout RecordEncoder) { e.u64(Tag.mask.rawValue, mask) }

    init(decoding d: RecordDecoder, fd: Int32) throws { mask = try d.u64(Tag.mask.rawValue, "signalfd mask") }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws { mask = try legacy.values(1, "signalfd", fd: fd)[0] }
}
