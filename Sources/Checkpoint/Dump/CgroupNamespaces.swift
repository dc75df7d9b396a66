import CheckpointImage
import Glibc
import LinuxKit

/// Processes in cgroup namespaces other than the checkpointer's (`unshare
/// -C`, containers): each namespace is saved as its root cgroup in every
/// hierarchy. The kernel shows cgroup paths from the reader's namespace
/// root, so the process's cgroups read from inside its namespace
/// (InsideNamespace) are relative to it: the root is what our longer path
/// has in front of theirs.
enum CgroupNamespaces {
    static func collect(_ processes: [ProcessState]) -> ForeignNamespaces<[CgroupMembership]> {
        let byPID = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        return ForeignNamespaces(processes.map(\.pid), kind: "cgroup", name: "a cgroup") { pid in
            byPID[pid].map(roots) ?? .failure(NamespaceUnreadable("not in the image"))
        }
    }

    /// Each hierarchy's namespace root: our path for the process less its own.
    static func roots(of p: ProcessState) -> Result<[CgroupMembership], NamespaceUnreadable> {
        let text: String
        switch InsideNamespace.read("/proc/\(p.pid)/cgroup", of: p.pid, namespace: "cgroup", flag: CloneFlags.newCgroup) {
        case .success(let bytes): text = String(decoding: bytes, as: UTF8.self)
        case .failure(let e): return .failure(NamespaceUnreadable(entering: e))
        }
        guard let theirs = try? ProcCgroup.parse(text) else { return .failure(NamespaceUnreadable("its /proc/PID/cgroup did not parse")) }
        var roots: [CgroupMembership] = []
        for mine in p.cgroups {
            guard let own = theirs.first(where: { $0.controllers == mine.controllers }) else { continue }
            // A cgroup above the namespace root reads "/../x": the process was moved out of it.
            guard !own.path.hasPrefix("/.."), own.path == "/" || mine.path.hasSuffix(own.path) else {
                return .failure(NamespaceUnreadable("it is in \(mine.path), outside its namespace's root"))
            }
            let root = own.path == "/" ? mine.path : String(mine.path.dropLast(own.path.count))
            roots.append(CgroupMembership(controllers: mine.controllers, path: root.isEmpty ? "/" : root))
        }
        return .success(roots)
    }
}
