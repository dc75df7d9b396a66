/// inotify: each watch by its number, event mask and the path it watches
/// (made again in number order, so the numbers come back the same).
public struct InotifyRecord: DescriptorPayloadRecord {
    public struct Watch: Equatable, Sendable {
        public var wd: UInt64
        public var mask: UInt64
        public var path: String
        /// A watched file removed since, which a descriptor of the process
        /// still holds: that descriptor's number (watched through it at restart).
        public var heldBy: UInt64?
        /// Since 2026-12-04: the path is in another mount namespace of the
        /// tree's than the process's (ProcessState.mountNamespace numbering; 0 the checkpointer's).
        public var mountNamespace: Int?
        public init(wd: UInt64, mask: UInt64, path: String, heldBy: UInt64? = nil, mountNamespace: Int? = nil) {
            self.wd = wd; self.mask = mask; self.path = path; self.heldBy = heldBy; self.mountNamespace = mountNamespace
        }
    }
    public var watches: [Watch]
    public init(watches: [Watch]) { self.watches = watches }

    enum Tag: UInt16, CaseIterable { case watch = 1 }
    enum WatchTag: UInt16, CaseIterable { case wd = 1, mask = 2, path = 3, heldBy = 4, mountNamespace = 5 }

    func encode(into e: inout RecordEncoder) {
        for w in watches {
            e.record(Tag.watch.rawValue) {
                $0.u64(WatchTag.wd.rawValue, w.wd)
                $0.u64(WatchTag.mask.rawValue, w.mask)
                $0.string(WatchTag.path.rawValue, w.path)
                if let fd = w.heldBy { $0.u64(WatchTag.heldBy.rawValue, fd) }
                if let ns = w.mountNamespace { $0.u64(WatchTag.mountNamespace.rawValue, UInt64(ns)) }
            }
        }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        watches = try d.records(Tag.watch.rawValue, name: "inotify watch").map { w in
            let wd = try w.u64(WatchTag.wd.rawValue, "watch number")
            guard wd > 0 && wd <= UInt64(Int32.max) else { throw ImageError.malformed(what: "inotify fd \(fd): watch number \(wd)", offset: w.base) }
            let ns = try w.optionalU64(WatchTag.mountNamespace.rawValue)
            guard (ns ?? 0) < 1 << 20 else { throw ImageError.malformed(what: "inotify fd \(fd): watch \(wd) in mount namespace \(ns ?? 0)", offset: w.base) }
            return Watch(wd: wd, mask: try w.u64(WatchTag.mask.rawValue, "watch mask"), path: w.string(WatchTag.path.rawValue) ?? "",
                         heldBy: try w.optionalU64(WatchTag.heldBy.rawValue), mountNamespace: ns.map { Int($0) })
        }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        let (v, paths) = (legacy.values, legacy.watchPaths)
        guard v.count == 2 * paths.count else {
            throw ImageError.malformed(what: "inotify fd \(fd): \(v.count) values for \(paths.count) watches", offset: legacy.base)
        }
        watches = paths.enumerated().map { Watch(wd: v[2 * $0.offset], mask: v[2 * $0.offset + 1], path: $0.element) }
    }
}
