import CheckpointImage
import Glibc

/// CRIU's --cgroup-root [CONTROLLERS:]/PATH. At checkpoint, the cgroup the
/// image's paths start from in that hierarchy (a job's cgroups saved as if
/// PATH were the root); at restart, where they go (the job's cgroups made
/// under PATH). Without CONTROLLERS it is every hierarchy that no root
/// names; "cgroup2" names the unified hierarchy.
public struct CgroupRoot: Equatable, Sendable {
    /// nil: the default for hierarchies no other root names.
    public var controllers: Set<String>?
    public var path: String

    public init(parsing text: String) throws {
        var spec = Substring(text)
        if let colon = spec.firstIndex(of: ":") {
            let names = spec[..<colon].split(separator: ",").map(String.init)
            guard !names.isEmpty else { throw CheckpointError(EINVAL, "--cgroup-root '\(text)': no controller before ':'") }
            controllers = Set(names)
            spec = spec[spec.index(after: colon)...]
        }
        let steps = spec.split(separator: "/")
        guard spec.hasPrefix("/"), !spec.contains("\0"), !steps.contains(where: { $0 == "." || $0 == ".." }) else {
            throw CheckpointError(EINVAL, "--cgroup-root '\(text)': the path must start with / and hold no . or .. step")
        }
        path = "/" + steps.joined(separator: "/")
    }

    /// The root of the hierarchy named `controllers` ("" for cgroup v2):
    /// one naming all its controllers, else the default; nil for none.
    static func root(of controllers: String, in roots: [CgroupRoot]) -> String? {
        let names = controllers.isEmpty ? ["cgroup2"] : Set(controllers.split(separator: ",").map(String.init))
        return (roots.first { $0.controllers.map { !$0.isEmpty && $0.isSubset(of: names) } ?? false } ?? roots.first { $0.controllers == nil })?.path
    }

    /// At checkpoint: the cgroup as seen from its hierarchy's root; nil for
    /// one that is not below it (its settings are then not saved).
    static func below(_ c: CgroupMembership, _ roots: [CgroupRoot]) -> CgroupMembership? {
        guard let root = root(of: c.controllers, in: roots), root != "/" else { return c }
        if c.path == root { return CgroupMembership(controllers: c.controllers, path: "/") }
        guard c.path.hasPrefix(root + "/") else { return nil }
        return CgroupMembership(controllers: c.controllers, path: String(c.path.dropFirst(root.count)))
    }

    /// At restart: the saved cgroup under its hierarchy's new root.
    static func under(_ c: CgroupMembership, _ roots: [CgroupRoot]) -> CgroupMembership {
        guard let root = root(of: c.controllers, in: roots), root != "/" else { return c }
        return CgroupMembership(controllers: c.controllers, path: c.path == "/" ? root : root + c.path)
    }
}

extension CgroupRoot {
    /// A process's and its threads' cgroups, from their roots (checkpoint);
    /// a cgroup outside its root fails the checkpoint, as it could not be
    /// placed at restart.
    static func rebase(_ p: inout ProcessState, _ roots: [CgroupRoot]) throws {
        func move(_ list: [CgroupMembership], _ who: String) throws -> [CgroupMembership] {
            try list.map { c in
                guard let moved = below(c, roots) else {
                    throw CheckpointError(EINVAL, "\(who) is in cgroup \(c.controllers.isEmpty ? "cgroup2" : c.controllers):\(c.path), not below --cgroup-root \(root(of: c.controllers, in: roots) ?? "/")")
                }
                return moved
            }
        }
        p.cgroups = try move(p.cgroups, "process \(p.pid)")
        for k in p.threads.indices { p.threads[k].cgroups = try move(p.threads[k].cgroups, "thread \(p.threads[k].tid)") }
    }

    /// The image's cgroups moved under the restart's roots.
    static func relocate(_ processes: inout [ProcessState], _ tree: inout TreeState, _ roots: [CgroupRoot]) {
        guard !roots.isEmpty else { return }
        for k in processes.indices {
            processes[k].cgroups = processes[k].cgroups.map { under($0, roots) }
            for t in processes[k].threads.indices { processes[k].threads[t].cgroups = processes[k].threads[t].cgroups.map { under($0, roots) } }
        }
        tree.cgroupNamespaces = tree.cgroupNamespaces.map { $0.map { under($0, roots) } }
        tree.cgroupSettings = tree.cgroupSettings.map { s in
            var moved = s
            moved.cgroup = under(s.cgroup, roots)
            return moved
        }
    }
}
