/// A named FIFO: its permission bits, for making it again if it is gone.
public struct FIFORecord: DescriptorPayloadRecord {
    public var mode: UInt64
    /// Since 1.3: the FIFO had been removed while open; it comes back removed.
    public var gone: Bool = false
    /// Since 2026-12-06: its uid and gid, which a FIFO made again gets (empty: the restorer's).
    public var owner: [UInt64] = []
    public init(mode: UInt64, gone: Bool = false, owner: [UInt64] = []) { self.mode = mode; self.gone = gone; self.owner = owner }

    enum Tag: UInt16, CaseIterable { case mode = 1, gone = 2, owner = 3 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.mode.rawValue, mode)
        if gone { e.u64(Tag.gone.rawValue, 1) }
        if !owner.isEmpty { e.u64s(Tag.owner.rawValue, owner) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        mode = try d.u64(Tag.mode.rawValue, default: 0o600)
        gone = try d.flag(Tag.gone.rawValue, fd: fd, "gone")
        owner = try d.u64s(Tag.owner.rawValue)
        guard mode <= 0o7777, owner.isEmpty || (owner.count == 2 && owner.allSatisfy { $0 <= UInt64(UInt32.max) }) else {
            throw ImageError.malformed(what: "fifo fd \(fd): mode 0o\(String(mode, radix: 8)), owner \(owner)", offset: d.base)
        }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws { mode = try legacy.values(1, "fifo", fd: fd)[0] & 0o7777 }
}
