/// Since 2026-12-04: the settings of a cgroup the tree's processes were in
/// (or above one of them), for a restart that has to make it again
/// (cr_restart --manage-cgroups): its interface files from a fixed list,
/// in the order they are written back.
public struct CgroupSettings: Equatable, Sendable {
    public var cgroup: CgroupMembership
    /// (file, contents) pairs, files from `files(for:)` only.
    public var values: [(file: String, value: String)]

    public init(cgroup: CgroupMembership, values: [(file: String, value: String)]) { self.cgroup = cgroup; self.values = values }

    public static func == (a: CgroupSettings, b: CgroupSettings) -> Bool {
        a.cgroup == b.cgroup && a.values.map(\.file) == b.values.map(\.file) && a.values.map(\.value) == b.values.map(\.value)
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
                "memory.soft_limit_in_bytes", "memory.swappiness", "pids.max", "blkio.weight"]
    }

    enum Tag: UInt16, CaseIterable { case cgroup = 1, value = 2 }

    func encode(into e: inout RecordEncoder) {
        e.string(Tag.cgroup.rawValue, cgroup.encoded)
        for v in values { e.string(Tag.value.rawValue, v.file + "=" + v.value) }
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
    }
}
