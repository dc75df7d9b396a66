/// An open /dev/net/tun: the device it is attached to (none: opened, not
/// attached yet), that device's TUNSETIFF flags, and whether its queue was
/// detached (IFF_DETACH_QUEUE on a multi-queue device).
public struct TunFileRecord: DescriptorPayloadRecord {
    public var device: String
    public var flags: UInt32
    public var detached: Bool
    public init(device: String, flags: UInt32, detached: Bool) { self.device = device; self.flags = flags; self.detached = detached }

    enum Tag: UInt16, CaseIterable { case device = 1, flags = 2, detached = 3 }

    func encode(into e: inout RecordEncoder) {
        if !device.isEmpty { e.string(Tag.device.rawValue, device) }
        e.u64(Tag.flags.rawValue, UInt64(flags))
        if detached { e.u64(Tag.detached.rawValue, 1) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        device = d.string(Tag.device.rawValue) ?? ""
        let f = try d.u64(Tag.flags.rawValue, default: 0)
        guard TunDevice.validName(device, orEmpty: true), f <= UInt64(TunDevice.flagMask), f & 3 != 3 else {
            throw ImageError.malformed(what: "tun fd \(fd): device \"\(device)\", flags 0x\(String(f, radix: 16))", offset: d.base)
        }
        flags = UInt32(f)
        detached = try d.flag(Tag.detached.rawValue, fd: fd, "tun queue detached")
    }

    /// Kind 25 is new since 2026-12-05: no image before 1.2 has one.
    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        throw ImageError.malformed(what: "tun fd \(fd) without its record", offset: legacy.base)
    }
}
