import Glibc

/// One line of /proc/PID/cgroup: a hierarchy, named by its controllers as the
/// kernel lists them ("cpu,cpuacct", "name=systemd"; empty for the unified
/// cgroup v2 hierarchy), and the task's cgroup there, as a path from the
/// reader's cgroup namespace root. Hierarchy numbers are left out: they
/// differ from boot to boot.
public struct ProcCgroup: Equatable, Sendable {
    public var controllers: String
    public var path: String

    public init(controllers: String, path: String) { self.controllers = controllers; self.path = path }

    /// Parses "ID:CONTROLLERS:PATH" lines (the path may itself hold colons).
    public static func parse(_ text: String) throws -> [ProcCgroup] {
        try text.split(separator: "\n").enumerated().map { n, line in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, Int(parts[0]) != nil, parts[2].hasPrefix("/") else {
                throw ProcParseError(file: "cgroup", line: n + 1, reason: "not ID:CONTROLLERS:/PATH")
            }
            return ProcCgroup(controllers: String(parts[1]), path: String(parts[2]))
        }
    }

    /// A thread's cgroups (the main thread's are its process's).
    public static func read(pid: pid_t, tid: pid_t) throws -> [ProcCgroup] {
        try parse(try Sys.readText("/proc/\(pid)/task/\(tid)/cgroup"))
    }

    /// The controllers the kernel has (the first column of /proc/cgroups), to
    /// tell them from other cgroup v1 mount options.
    public static func knownControllers() -> Set<String> {
        let text = (try? Sys.readText("/proc/cgroups")) ?? ""
        return Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: "\t").first.map(String.init) })
    }

    /// Whether a cgroup v1 mount's per-superblock options ("rw,cpu,cpuacct",
    /// "rw,xattr,name=systemd") make it the hierarchy named `controllers`.
    public static func mountShows(_ controllers: String, superOptions: String, known: Set<String>) -> Bool {
        let want = Set(controllers.split(separator: ",").map(String.init))
        let options = Set(superOptions.split(separator: ",").map(String.init))
        let has = options.filter { known.contains($0) || $0.hasPrefix("name=") }
        return !want.isEmpty && has == want
    }

    /// The mounts that show the hierarchy named `controllers` (empty: cgroup
    /// v2) down to `path`, those closest to its root first.
    public static func mounts(of controllers: String, showing path: String, in mounts: [MountInfo], known: Set<String>) -> [MountInfo] {
        mounts.filter { m in
            controllers.isEmpty ? m.fsType == "cgroup2" : m.fsType == "cgroup" && mountShows(controllers, superOptions: m.superOptions, known: known)
        }.filter { $0.root == "/" || path == $0.root || path.hasPrefix($0.root + "/") }
        .sorted { $0.root.count < $1.root.count }
    }

    /// `path` as a file system path under one of those mounts.
    public static func directory(_ path: String, under m: MountInfo) -> String {
        m.mountPoint + (m.root == "/" ? (path == "/" ? "" : path) : String(path.dropFirst(m.root.count)))
    }
}
