/// Since 2026-12-04: the settings of a cgroup the tree's processes were in
/// (or above one of them), for a restart that has to make it again
/// (cr_restart --manage-cgroups): its interface files from a fixed list,
/// in the order they are written back.
public struct CgroupSettings: Equatable, Sendable {
    public var cgroup: CgroupMembership
    /// (file, contents) pairs, files from `files(for:)` only.
    public var values: [(file: String, value: String)]

    /// Since 2026-12-05: the directory's owner and mode, and those of its
    /// files that a delegation changes (`ownedFiles`), for a cgroup made again.
    public var directory: CgroupOwnership?
    public var files: [(file: String, ownership: CgroupOwnership)] = []
    /// Since 2026-12-05: a v1 devices cgroup's devices.list, whole (one rule a line).
    public var devices: String?

    public init(cgroup: CgroupMembership, values: [(file: String, value: String)], directory: CgroupOwnership? = nil,
                files: [(file: String, ownership: CgroupOwnership)] = [], devices: String? = nil) {
        self.cgroup = cgroup; self.values = values
        self.directory = directory; self.files = files; self.devices = devices
    }

    public static func == (a: CgroupSettings, b: CgroupSettings) -> Bool {
        a.cgroup == b.cgroup && a.values.map(\.file) == b.values.map(\.file) && a.values.map(\.value) == b.values.map(\.value)
            && a.directory == b.directory && a.files.map(\.file) == b.files.map(\.file) && a.files.map(\.ownership) == b.files.map(\.ownership)
            && a.devices == b.devices
    }

    /// Interface files whose owner and mode are saved besides the settings'
    /// own: the ones a delegation hands over (cgroup v2's delegation
    /// guide, and v1's tasks and notify_on_release).
    public static func ownedFiles(for controllers: String) -> [String] {
        controllers.isEmpty ? ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"]
            : ["cgroup.procs", "tasks", "notify_on_release", "cgroup.clone_children"]
    }

    /// The files saved and written back, in that order: a v1 cpuset's cpus
    /// and mems before anything joins it, a v2 cgroup's type and the
    /// controllers it gives its children before its limits.
    public static func files(for controllers: String) -> [String] {
        if controllers.isEmpty {
            return ["cgroup.type", "cgroup.subtree_control", "cgroup.max.depth", "cgroup.max.descendants", "cpuset.cpus", "cpuset.mems",
                    "cpu.weight", "cpu.max", "memory.min", "memory.low", "memory.high", "memory.max", "memory.swap.max", "pids.max", "io.weight"]
        }
        return ["cpuset.cpus", "cpuset.mems", "cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "memory.limit_in_bytes",
                "memory.soft_limit_in_bytes", "memory.swappiness", "pids.max", "blkio.weight", "net_cls.classid", "net_prio.ifpriomap"]
    }

    /// Files saved whole, one setting a line, and written back a line at a time.
    public static let lineByLine: Set<String> = ["net_prio.ifpriomap"]

    enum Tag: UInt16, CaseIterable { case cgroup = 1, value = 2, directory = 3, file = 4, devices = 5 }

    func encode(into e: inout RecordEncoder) {
        e.string(Tag.cgroup.rawValue, cgroup.encoded)
        for v in values { e.string(Tag.value.rawValue, v.file + "=" + v.value) }
        if let directory { e.string(Tag.directory.rawValue, directory.encoded) }
        for f in files { e.string(Tag.file.rawValue, f.file + "=" + f.ownership.encoded) }
        if let devices { e.string(Tag.devices.rawValue, devices) }
    }

    /// A file not on the list (the restart writes only those) is refused.
    init(decoding d: RecordDecoder) throws {
        guard let field = d.string(Tag.cgroup.rawValue) else { throw ImageError.malformed(what: "cgroup settings without their cgroup", offset: d.base) }
        let cgroup = try CgroupMembership(field: field, what: "cgroup settings", offset: d.base)
        self.cgroup = cgroup
        let allowed = Set(Self.files(for: cgroup.controllers))
        values = try d.fields.filter { $0.tag == Tag.value.rawValue }.map { f in
            let text = String(decoding: d.bytes[f.range], as: UTF8.self)
            guard let eq = text.firstIndex(of: "="), allowed.contains(String(text[..<eq])) else {
                throw ImageError.malformed(what: "cgroup \(cgroup.path): setting '\(text.prefix(60))' is not one swiftcr restores", offset: d.offset(of: f.range))
            }
            return (String(text[..<eq]), String(text[text.index(after: eq)...]))
        }
        if let field = d.string(Tag.directory.rawValue) {
            directory = try CgroupOwnership(field: field, what: "cgroup \(cgroup.path): directory", offset: d.base)
        }
        let owned = Set(Self.ownedFiles(for: cgroup.controllers) + Self.files(for: cgroup.controllers))
        files = try d.fields.filter { $0.tag == Tag.file.rawValue }.map { f in
            let text = String(decoding: d.bytes[f.range], as: UTF8.self)
            guard let eq = text.firstIndex(of: "="), owned.contains(String(text[..<eq])) else {
                throw ImageError.malformed(what: "cgroup \(cgroup.path): owner of '\(text.prefix(60))', not a file swiftcr restores", offset: d.offset(of: f.range))
            }
            let ownership = try CgroupOwnership(field: String(text[text.index(after: eq)...]), what: "cgroup \(cgroup.path): \(text[..<eq])", offset: d.offset(of: f.range))
            return (String(text[..<eq]), ownership)
        }
        devices = d.string(Tag.devices.rawValue)
    }
}

/// An owner and permission bits, as "MODE:UID:GID" (mode in octal).
public struct CgroupOwnership: Equatable, Sendable {
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32

    public init(mode: UInt32, uid: UInt32, gid: UInt32) { self.mode = mode & 0o7777; self.uid = uid; self.gid = gid }

    var encoded: String { String(mode, radix: 8) + ":" + String(uid) + ":" + String(gid) }

    init(field: String, what: String, offset: UInt64) throws {
        let parts = field.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let mode = UInt32(parts[0], radix: 8), mode <= 0o7777,
              let uid = UInt32(parts[1]), let gid = UInt32(parts[2]) else {
            throw ImageError.malformed(what: "\(what): owner '\(field.prefix(40))' is not MODE:UID:GID", offset: offset)
        }
        self.init(mode: mode, uid: uid, gid: gid)
    }
}
