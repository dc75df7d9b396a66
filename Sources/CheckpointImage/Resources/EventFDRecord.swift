/// eventfd: its counter and whether it counts as a semaphore (EFD_SEMAPHORE).
public struct EventFDRecord: DescriptorPayloadRecord {
    public var count: UInt64
    public var semaphore: Bool
    public init(count: UInt64, semaphore: Bool) { self.count = count; self.semaphore = semaphore }

    enum Tag: UInt16, CaseIterable { case count = 1, semaphore = 2 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.count.rawValue, count)
        e.u64(Tag.semaphore.rawValue, semaphore ? 1 : 0)
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        count = try d.u64(Tag.count.rawValue, "eventfd count")
        semaphore = try d.flag(Tag.semaphore.rawValue, fd: fd, "eventfd semaphore")
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        let v = try legacy.values(2, "eventfd", fd: fd)
        self.init(count: v[0], semaphore: v[1] != 0)
    }
}
