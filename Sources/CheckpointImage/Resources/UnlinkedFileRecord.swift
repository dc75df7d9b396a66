/// A regular file unlinked while open: its permission bits and owner, for
/// the file made again (its contents ride in the descriptor's `fileContents`).
public struct UnlinkedFileRecord: DescriptorPayloadRecord {
    public var mode: UInt64
    /// UInt64.max: not saved (images before 1.2), left as the restorer makes it.
    public var uid: UInt64
    public var gid: UInt64

    public init(mode: UInt64, uid: UInt64, gid: UInt64) { self.mode = mode; self.uid = uid; self.gid = gid }

    enum Tag: UInt16, CaseIterable { case mode = 1, uid = 2, gid = 3 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.mode.rawValue, mode)
        e.u64(Tag.uid.rawValue, uid)
        e.u64(Tag.gid.rawValue, gid)
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        mode = try d.u64(Tag.mode.rawValue, default: 0o600)
        uid = try d.u64(Tag.uid.rawValue, default: .max)
        gid = try d.u64(Tag.gid.rawValue, default: .max)
        guard mode <= 0o7777, uid == .max || uid <= UInt64(UInt32.max), gid == .max || gid <= UInt64(UInt32.max) else {
            throw ImageError.malformed(what: "unlinked file fd \(fd): mode 0o\(String(mode, radix: 8)), owner \(uid):\(gid)", offset: d.base)
        }
    }

    /// Images before 1.2 kept neither: mode 0600, the restorer's owner.
    init(legacy: LegacyDescriptorFields, fd: Int32) throws { self.init(mode: 0o600, uid: .max, gid: .max) }
}
