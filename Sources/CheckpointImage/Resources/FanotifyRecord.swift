/// A fanotify group (written since 2026-12-03): fanotify_init's flags and
/// event file flags, then each mark: what it is on (an inode, a mount or a
/// file system, by a path to it), its mark flags, event mask and ignored
/// mask. Events waiting in it are not kept.
public struct FanotifyRecord: DescriptorPayloadRecord {
    public enum Target: UInt64, Sendable { case inode = 1, mount = 2, filesystem = 3 }

    public struct Mark: Equatable, Sendable {
        public var target: Target
        public var path: String
        /// FAN_MARK_IGNORED_SURV_MODIFY, FAN_MARK_EVICTABLE, FAN_MARK_IGNORE (fdinfo's mflags).
        public var flags: UInt64
        public var mask: UInt64
        public var ignoredMask: UInt64
        /// A marked file removed since, which a descriptor of the process
        /// still holds: that descriptor's number (marked through it at restart).
        public var heldBy: UInt64?
        public init(target: Target, path: String, flags: UInt64, mask: UInt64, ignoredMask: UInt64, heldBy: UInt64? = nil) {
            self.target = target; self.path = path; self.flags = flags; self.mask = mask; self.ignoredMask = ignoredMask; self.heldBy = heldBy
        }
    }

    /// fanotify_init's flags (FAN_CLASS_*, FAN_REPORT_*, FAN_UNLIMITED_*) and event_f_flags.
    public var initFlags: UInt64
    public var eventFlags: UInt64
    public var marks: [Mark] = []

    public init(initFlags: UInt64, eventFlags: UInt64) { self.initFlags = initFlags; self.eventFlags = eventFlags }

    enum Tag: UInt16, CaseIterable { case initFlags = 1, eventFlags = 2, mark = 3 }
    enum MarkTag: UInt16, CaseIterable { case target = 1, path = 2, flags = 3, mask = 4, ignoredMask = 5, heldBy = 6 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.initFlags.rawValue, initFlags)
        e.u64(Tag.eventFlags.rawValue, eventFlags)
        for m in marks {
            e.record(Tag.mark.rawValue) {
                $0.u64(MarkTag.target.rawValue, m.target.rawValue)
                $0.string(MarkTag.path.rawValue, m.path)
                $0.u64(MarkTag.flags.rawValue, m.flags)
                $0.u64(MarkTag.mask.rawValue, m.mask)
                $0.u64(MarkTag.ignoredMask.rawValue, m.ignoredMask)
                if let fd = m.heldBy { $0.u64(MarkTag.heldBy.rawValue, fd) }
            }
        }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        self.init(initFlags: try d.u64(Tag.initFlags.rawValue, "fanotify flags"), eventFlags: try d.u64(Tag.eventFlags.rawValue, default: 0))
        let u32 = UInt64(UInt32.max)
        guard initFlags <= u32, eventFlags <= u32 else {
            throw ImageError.malformed(what: "fanotify fd \(fd): flags \(initFlags), event flags \(eventFlags)", offset: d.base)
        }
        marks = try d.records(Tag.mark.rawValue, name: "fanotify mark").map { m in
            let raw = try m.u64(MarkTag.target.rawValue, "mark target")
            guard let target = Target(rawValue: raw), let path = m.string(MarkTag.path.rawValue), path.hasPrefix("/") else {
                throw ImageError.malformed(what: "fanotify fd \(fd): mark on target \(raw) without an absolute path", offset: m.base)
            }
            let mark = Mark(target: target, path: path, flags: try m.u64(MarkTag.flags.rawValue, default: 0),
                            mask: try m.u64(MarkTag.mask.rawValue, default: 0), ignoredMask: try m.u64(MarkTag.ignoredMask.rawValue, default: 0),
                            heldBy: try m.optionalU64(MarkTag.heldBy.rawValue))
            guard mark.flags <= u32, mark.mask <= u32, mark.ignoredMask <= u32, (mark.heldBy ?? 0) <= UInt64(Int32.max) else {
                throw ImageError.malformed(what: "fanotify fd \(fd): mark on \(path) with flags \(mark.flags), masks \(mark.mask), \(mark.ignoredMask)", offset: m.base)
            }
            return mark
        }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        throw ImageError.malformed(what: "fanotify fd \(fd) in an image before 1.3", offset: legacy.base)
    }
}
