/// A device node or symbolic link held open (a symlink through O_PATH),
/// which may have been removed since: enough to make the node again.
public struct NodeRecord: DescriptorPayloadRecord {
    /// st_mode: the file type and permission bits.
    public var mode: UInt64
    /// A device's number (st_rdev, glibc's encoding); 0 for a symlink.
    public var rdev: UInt64
    /// A symlink's target.
    public var target: String
    public var uid: UInt64, gid: UInt64
    /// The path no longer led to this node at the checkpoint.
    public var gone: Bool

    public init(mode: UInt64, rdev: UInt64, target: String = "", uid: UInt64, gid: UInt64, gone: Bool) {
        self.mode = mode; self.rdev = rdev; self.target = target; self.uid = uid; self.gid = gid; self.gone = gone
    }

    public var isSymlink: Bool { mode & 0o170000 == 0o120000 }

    enum Tag: UInt16, CaseIterable { case mode = 1, rdev = 2, target = 3, uid = 4, gid = 5, gone = 6 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.mode.rawValue, mode)
        e.u64(Tag.rdev.rawValue, rdev)
        if !target.isEmpty { e.string(Tag.target.rawValue, target) }
        e.u64(Tag.uid.rawValue, uid)
        e.u64(Tag.gid.rawValue, gid)
        if gone { e.u64(Tag.gone.rawValue, 1) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        self.init(mode: try d.u64(Tag.mode.rawValue, "node mode"), rdev: try d.u64(Tag.rdev.rawValue, default: 0),
                  target: d.string(Tag.target.rawValue) ?? "", uid: try d.u64(Tag.uid.rawValue, default: 0),
                  gid: try d.u64(Tag.gid.rawValue, default: 0), gone: try d.flag(Tag.gone.rawValue, fd: fd, "gone"))
        let type = mode & 0o170000
        guard [0o020000, 0o060000, 0o120000].contains(type), mode <= 0o177777, uid <= UInt64(UInt32.max), gid <= UInt64(UInt32.max),
              target.utf8.count < 4096, !target.utf8.contains(0) else {
            throw ImageError.malformed(what: "node fd \(fd): mode 0o\(String(mode, radix: 8)), target of \(target.utf8.count) bytes", offset: d.base)
        }
    }

    /// Kind 18 is new in 1.3: no image before it has one.
    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        throw ImageError.malformed(what: "node fd \(fd) without its record", offset: legacy.base)
    }
}
