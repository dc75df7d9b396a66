/// Since 2026-12-04: a cgroup a process or thread was in. `controllers`
/// names the hierarchy as /proc/PID/cgroup does ("cpu,cpuacct",
/// "name=systemd"; empty for the unified cgroup v2 hierarchy); `path` is the
/// cgroup from the checkpointer's cgroup namespace root.
public struct CgroupMembership: Equatable, Sendable {
    public var controllers: String
    public var path: String

    public init(controllers: String, path: String) { self.controllers = controllers; self.path = path }

    /// The path's directories from the hierarchy root ("/a/b" -> a, b).
    public var components: [Substring] { path.split(separator: "/") }

    /// "CONTROLLERS:PATH" as one record field (controllers hold no colon).
    var encoded: String { controllers + ":" + path }

    /// Refuses what the restart could not follow safely: a path not from the
    /// root, or with "." or ".." steps (it must stay inside the hierarchy).
    init(field: String, what: String, offset: UInt64) throws {
        guard let colon = field.firstIndex(of: ":") else {
            throw ImageError.malformed(what: "\(what): cgroup '\(field)' is not CONTROLLERS:PATH", offset: offset)
        }
        controllers = String(field[..<colon])
        path = String(field[field.index(after: colon)...])
        guard path.hasPrefix("/"), !path.contains("\0"), !components.contains(where: { $0 == "." || $0 == ".." }),
              !controllers.contains("/"), !controllers.contains("\0") else {
            throw ImageError.malformed(what: "\(what): cgroup path '\(path)' of '\(controllers)' is not a plain path from the root", offset: offset)
        }
    }

    static func decodeAll(_ d: RecordDecoder, tag: UInt16, what: String) throws -> [CgroupMembership] {
        try d.fields.filter { $0.tag == tag }.map {
            try CgroupMembership(field: String(decoding: d.bytes[$0.range], as: UTF8.self), what: what, offset: d.offset(of: $0.range))
        }
    }
}
