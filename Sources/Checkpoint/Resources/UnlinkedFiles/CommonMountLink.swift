import Glibc
import LinuxKit

/// A name of a file linked into another directory of its filesystem that
/// the directory's own mount cannot reach (link(2) stays within one mount):
/// through a mount, of any of the restart's namespaces or ours, whose root
/// lies above both the file's name and that directory. A bind of one
/// directory and a bind of another are so linked through a mount of the
/// whole filesystem (zdtm mntns_link_ghost keeps one in the parent's
/// namespace); any restorer may, no handle needed.
struct CommonMountLink {
    typealias Place = UnlinkedFileFactory.Place

    /// Where namespace `k`'s paths are reached from here.
    let root: (Int) -> String
    /// Namespace `k`'s mounts now, nil if not made.
    let mounts: (Int) -> [MountInfo]?
    /// The namespaces to look through: ours (0) and the made ones.
    let namespaces: [Int]

    /// Links `name` (a name of the file) as `target`; returns the path it made (to remove), or nil.
    func link(_ name: Place, as target: Place) -> String? {
        guard let from = locate(name.path, in: name.namespace),
              let dir = locate(Self.directory(target.path), in: target.namespace),
              from.device == dir.device else { return nil }
        let leaf = String(target.path[target.path.index(after: target.path.lastIndex(of: "/") ?? target.path.startIndex)...])
        for ns in namespaces {
            for m in mounts(ns) ?? [] where m.major == from.device.major && m.minor == from.device.minor {
                guard let a = MountNamespaces.within(from.inside, m.root), let b = MountNamespaces.within(dir.inside, m.root) else { continue }
                let source = root(ns) + MountNamespaces.join(m.mountPoint, a)
                let made = root(ns) + MountNamespaces.join(MountNamespaces.join(m.mountPoint, b), leaf)
                if Glibc.link(source, made) == 0 { return made }
            }
        }
        return nil
    }

    /// The filesystem (major, minor) `path` of namespace `ns` is on and its path within it:
    /// the mount whose mount point is the longest prefix, the last mounted of those on one point.
    private func locate(_ path: String, in ns: Int) -> (device: (major: UInt32, minor: UInt32), inside: String)? {
        var best: (m: MountInfo, rest: String)?
        for m in mounts(ns) ?? [] {
            guard let rest = MountNamespaces.within(path, m.mountPoint) else { continue }
            if best == nil || m.mountPoint.count >= (best?.m.mountPoint.count ?? 0) { best = (m, rest) }
        }
        guard let (m, rest) = best else { return nil }
        return ((m.major, m.minor), MountNamespaces.join(m.root, rest))
    }

    static func directory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "/" }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }
}
