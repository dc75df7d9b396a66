import CLinux
import CheckpointImage
import Glibc
import LinuxKit

/// The tree's mount namespaces made again (TreeState.mountNamespaces). The
/// first stub of a namespace makes it: unshare gives a copy of cr_restart's
/// mounts (MountNamespaceBuilder: those not tied to ours by the image made
/// slaves, so nothing done in it reaches ours); mounts the image does not
/// have go, the rest are mounted in the image's order (each new tmpfs
/// filled with its files by us, through /proc/<stub>/root), then their
/// options and propagation are set. Later stubs of it join (setns through a
/// descriptor we hold); a stub born in one namespace that belongs in another
/// moves there before it opens anything.
final class MountNamespaceFactory {
    let namespaces: [MountNamespaceState]
    /// cr_restart's namespace, and each made one (-1: could not be made).
    private let ours: Int32
    private var made: [Int: Int32] = [:]
    /// Per made namespace, the stub that made it: its /proc root reaches the namespace's paths.
    private(set) var makers: [Int: pid_t] = [:]
    /// Per made namespace, the user namespace its maker made it from (a
    /// descriptor): the maker may be in another by the end (its own, entered last).
    private var makerUsers: [Int: Int32] = [:]
    /// Made namespaces copied inside a user namespace, and its descriptor (`owners`).
    private var copiedInside: [Int: Int32] = [:]
    private(set) var warnings: [String] = []
    /// Per made namespace, mounts of the copy the image lacks that stay
    /// until the restore is done (and whether their directory was made for them).
    private var lingering: [Int: [(path: String, madeDirectory: Bool)]] = [:]
    /// Made namespaces whose own root goes read-only once those are gone (MountNamespaceBuilder.rootAtEnd).
    private var readOnlyRoots: [Int: (superblockReadOnly: Bool, flags: UInt64)] = [:]
    /// The made namespaces' mounts: peer groups that span namespaces, binds of covered mounts.
    private let kept: MadeNamespaceMounts

    /// Namespaces whose processes all ran as root (effective uid 0).
    private let rootOnly: Set<Int>
    /// Namespaces that belong to a user namespace of the image (`unshare
    /// -Urm`): built as the others, then copied inside it (our descriptor of it).
    var owners: [Int: Int32] = [:]

    init?(namespaces: [MountNamespaceState], processes: [ProcessState]) {
        guard !namespaces.isEmpty else { return nil }
        self.namespaces = namespaces
        kept = MadeNamespaceMounts(namespaces: namespaces)
        var notRoot = Set<Int>()
        for p in processes where p.mountNamespace != 0 && (p.uids.count > 1 ? p.uids[1] : 1) != 0 { notRoot.insert(p.mountNamespace) }
        rootOnly = Set(1...namespaces.count).subtracting(notRoot)
        ours = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)
    }

    deinit {
        if ours >= 0 { close(ours) }
        for fd in made.values where fd >= 0 { close(fd) }
        for fd in makerUsers.values where fd >= 0 { close(fd) }
    }

    /// The restore is done (no stub opens a file any more): what stayed of
    /// the copies for it goes. Returns warnings.
    func unmountLingering() -> [String] {
        var problems: [String] = []
        for (k, mounts) in lingering.sorted(by: { $0.key < $1.key }) {
            guard let fd = made[k], fd >= 0, let user = makerUsers[k], user >= 0 else { continue }
            for (n, m) in mounts.enumerated() {
                let last = n == mounts.count - 1
                if case .failure(let e) = InsideNamespace.unmount(m.path, namespace: "/proc/self/fd/\(fd)", user: "/proc/self/fd/\(user)",
                                                                  removeDirectory: m.madeDirectory, thenRoot: last ? readOnlyRoots[k] : nil) {
                    let root = last && readOnlyRoots[k] != nil ? ", or the namespace's root made read-only again" : ""
                    problems.append("mount namespace \(k): \(m.path) of cr_restart's namespace, which the image does not have, could not be unmounted\(root) (\(e))")
                }
            }
        }
        lingering = [:]
        readOnlyRoots = [:]
        return problems
    }

    /// Where namespace `k`'s paths are reached from here ("" for ours), once made:
    /// a stub made later (a child forked once its parent's memory is in) may make one.
    func root(of k: Int) -> String? {
        k == 0 ? "" : makers[k].map { "/proc/\($0)/root" }
    }

    /// Namespace `k`'s mounts as they are now (0: ours), once made.
    func mounts(of k: Int) -> [MountInfo]? {
        guard let pid = k == 0 ? getpid() : makers[k] else { return nil }
        return try? MountInfo.read(pid: pid)
    }

    /// Namespace `k`'s /proc/<stub>/ns/mnt, for setns from a child of ours, once made.
    func file(of k: Int) -> String? {
        makers[k].map { "/proc/\($0)/ns/mnt" }
    }

    /// Moves the stub of `p`, born in namespace `inherited` (0: ours), to its
    /// own. Returns the namespace it is in now, which its children inherit.
    func place(_ p: ProcessState, inherited: Int, session: RemoteSession, stub: pid_t) throws -> Int {
        let wanted = p.mountNamespace
        guard wanted != inherited else { return inherited }
        guard wanted <= namespaces.count else {
            throw CheckpointError(EINVAL, "process \(p.pid) names mount namespace \(wanted) of an image that has \(namespaces.count)")
        }
        if wanted > 0, made[wanted] == nil {
            return try build(wanted, for: p.pid, inherited: inherited, session: session, stub: stub)
        }
        let fd = wanted == 0 ? ours : made[wanted] ?? -1
        guard fd >= 0 else { return inherited }  // the namespace could not be made: said once already
        if let why = try enter(fd, session: session) {
            warnings.append("process \(p.pid): it could not enter its mount namespace (\(why)); it stays in its parent's")
            return inherited
        }
        return wanted
    }

    /// setns into the namespace behind our descriptor `fd`; nil, or why not.
    private func enter(_ fd: Int32, session: RemoteSession) throws -> String? {
        let path = try session.putString("/proc/\(getpid())/fd/\(fd)")
        let opened = try session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), path, UInt64(O_RDONLY | O_CLOEXEC), 0)
        guard opened >= 0 else { return "opening it: \(errorText(Int32(-opened)))" }
        let r = try session.raw(NR.setns, UInt64(opened), CloneFlags.newMount)
        _ = try session.raw(NR.close, UInt64(opened))
        return r == 0 ? nil : errorText(Int32(-r))
    }

    /// A detached copy (open_tree) of `path` as the stub sees it now; nil (a warning) when it cannot be had.
    /// `ours`: the source is a mount of a namespace this restart made (the
    /// stub is in it): an unbindable one is made private for the copy and
    /// unbindable again (open_tree refuses to copy it; unshare had copied it).
    /// `source`: our descriptor of the mount itself (it may be covered by
    /// another, whose copy `path` would give) and `inside` it the directory bound.
    private func detached(_ path: String, for m: SavedMount, session: RemoteSession, ours: Bool = false,
                          source: (fd: Int32, inside: String)? = nil) throws -> UInt64? {
        func cloneByPath() throws -> Int64 {
            try session.raw(NR.open_tree, UInt64(bitPattern: Int64(AT_FDCWD)), try session.putString(path), UInt64(OPEN_TREE_CLONE) | UInt64(O_CLOEXEC))
        }
        if let source, let fd = try cloneTree(of: source, session: session) { return try privatized(fd, for: m, from: path, session: session) }
        var fd = try cloneByPath()
        if fd == -Int64(EINVAL) && ours {
            let source = try session.openRaw(path, flags: UInt64(CL_O_PATH | O_CLOEXEC))
            if source >= 0 {
                if try session.mountSetattrRaw(UInt64(source), propagation: MS_PRIVATE) == 0 {
                    fd = try cloneByPath()
                    _ = try session.mountSetattrRaw(UInt64(source), propagation: MS_UNBINDABLE)
                }
                _ = try session.raw(NR.close, UInt64(source))
            }
        }
        if fd >= 0 { return try privatized(UInt64(fd), for: m, from: path, session: session) }
        warnings.append("\(m.mountPoint): its source \(path) cannot be bound (\(errorText(Int32(-fd))))")
        return nil
    }

    /// A copy of a shared mount is its peer: what the new namespace then
    /// mounts on it would show in the source's namespace (another of the
    /// tree's, or ours). Private until its own groups are set, unless it
    /// was tied to ours.
    private func privatized(_ fd: UInt64, for m: SavedMount, from path: String, session: RemoteSession) throws -> UInt64 {
        if m.hostPeer == 0, case let r = try session.mountSetattrRaw(fd, propagation: MS_PRIVATE), r != 0 {
            warnings.append("\(m.mountPoint): its copy of \(path) could not be made private (\(errorText(Int32(-r))))")
        }
        return fd
    }

    /// open_tree of a mount through our descriptor of it (the stub is in its
    /// namespace, as the kernel wants): the stub reopens it by /proc. nil
    /// when that fails (the path is tried then).
    private func cloneTree(of source: (fd: Int32, inside: String), session: RemoteSession) throws -> UInt64? {
        let handle = try session.openRaw("/proc/\(getpid())/fd/\(source.fd)", flags: UInt64(CL_O_PATH | O_CLOEXEC))
        guard handle >= 0 else { return nil }
        defer { _ = try? session.raw(NR.close, UInt64(handle)) }
        let flags = UInt64(OPEN_TREE_CLONE) | UInt64(O_CLOEXEC) | (source.inside.isEmpty ? UInt64(CL_AT_EMPTY_PATH) : 0)
        let fd = try session.raw(NR.open_tree, UInt64(handle), try session.putString(source.inside), flags)
        return fd >= 0 ? UInt64(fd) : nil
    }

    /// Makes namespace `k` in the stub. Returns the namespace the stub is in
    /// after: `k`, or where it was left when `k` could not be made (a warning).
    private func build(_ k: Int, for pid: pid_t, inherited: Int, session: RemoteSession, stub: pid_t) throws -> Int {
        made[k] = -1
        let saved = namespaces[k - 1].mounts
        // Sources first, each from inside its namespace (a bind cannot cross
        // namespaces; a detached copy can be moved into the new one).
        var held: [Int32: UInt64] = [:]
        var here = inherited
        let sources = Set(saved.compactMap { m -> Int? in if case .bindNamespace(let j, _, _) = m.plan { return j } else { return nil } })
        for j in sources.sorted() {
            guard j != k, let fd = made[j], fd >= 0, try enter(fd, session: session) == nil else {
                warnings.append("process \(pid)'s mount namespace: the namespace it binds mounts from (\(j)) is not there; those mounts are left out")
                continue
            }
            here = j
            for m in saved {
                guard case .bindNamespace(j, let id, let path) = m.plan, let source = namespaces[j - 1].mounts.first(where: { $0.id == id }) else { continue }
                let handle = kept.descriptor(namespace: j, id: id).map { (fd: $0, inside: path) }
                held[m.id] = try detached(MountNamespaces.join(source.mountPoint, path), for: m, session: session, ours: true, source: handle)
            }
        }
        // The plans compare with the checkpointer's mounts: the copy is best
        // made of ours. A user in a user namespace of the restart's own may not
        // enter ours again: the copy is then of the one the stub is in, whose
        // extra mounts the builder takes away like any others.
        if here != 0, try enter(ours, session: session) == nil { here = 0 }
        for m in saved {
            if case .bindHost(let path) = m.plan { held[m.id] = try detached(path, for: m, session: session) }
        }
        defer { for fd in held.values { _ = try? session.raw(NR.close, fd) } }
        // A namespace made inside a user namespace from another of it (`unshare
        // -Urm`, then `unshare -m` there) is copied there again from the one
        // made for that: a copy made from outside would lock every mount.
        let owner = owners[k]
        let copiedHere = here != 0 && owner != nil && copiedInside[here] == owner
        let copied = try copiedHere && copyInside(owner: owner ?? -1, for: pid, session: session, stub: stub)
        if !copied {
            let r = try session.raw(NR.unshare, CloneFlags.newMount)
            guard r == 0 else {
                warnings.append("process \(pid) lived in a mount namespace of its own, which could not be made (\(errorText(Int32(-r))), restarting as root makes it): it comes back in \(here == 0 ? "cr_restart's" : "its parent's")")
                return here
            }
        }
        var said: [String] = []
        if copied {
            copiedInside[k] = owner
        } else if let owner {
            // One that belongs to a user namespace of the image (`unshare -Urm`,
            // bwrap): what came from ours is built first, then copied inside the
            // user namespace, where it is locked to the processes as it was (it
            // came from a namespace of more privilege; with our options, which
            // they may have changed since); their own mounts and options are
            // made in the copy after, theirs to unmount and change again. (A
            // root of its own is all theirs: made in the copy, as the original
            // was, after which the copied mounts go.)
            if !namespaces[k - 1].ownRoot {
                var copied = MountNamespaceBuilder(saved: saved.filter { $0.plan == .inherited }, session: session, stub: stub, mayReachOurs: rootOnly.contains(k))
                copied.keepsCopiedOptions = true
                try copied.build(held: [:])
                said = copied.warnings
                if !copied.lingering.isEmpty { lingering[k] = copied.lingering }
            }
            if try copyInside(owner: owner, for: pid, session: session, stub: stub) { copiedInside[k] = owner }
        }
        var builder = MountNamespaceBuilder(saved: saved, session: session, stub: stub, mayReachOurs: rootOnly.contains(k))
        builder.others = kept
        builder.namespace = k
        builder.ownRoot = namespaces[k - 1].ownRoot
        try builder.build(held: held)
        if let end = builder.rootAtEnd { readOnlyRoots[k] = end }
        said += builder.warnings.filter { !said.contains($0) }
        warnings += said.map { "process \(pid)'s mount namespace: \($0)" }
        made[k] = open("/proc/\(stub)/ns/mnt", O_RDONLY | O_CLOEXEC)
        makers[k] = stub
        if !(lingering[k] ?? builder.lingering).isEmpty { makerUsers[k] = open("/proc/\(stub)/ns/user", O_RDONLY | O_CLOEXEC) }
        if lingering[k] == nil && !builder.lingering.isEmpty { lingering[k] = builder.lingering }
        return k
    }

    /// The stub's mount namespace copied inside its user namespace `owner`;
    /// the stub moves to the copy. Where that fails it stays in the one it
    /// is in, whose mounts its process may not change (a warning, false).
    @discardableResult
    private func copyInside(owner: Int32, for pid: pid_t, session: RemoteSession, stub: pid_t) throws -> Bool {
        let built = open("/proc/\(stub)/ns/mnt", O_RDONLY | O_CLOEXEC)
        guard built >= 0 else { throw CheckpointError(errno: errno, "process \(pid)'s mount namespace: opening it") }
        defer { close(built) }
        func refused(_ why: String) -> Bool {
            warnings.append("process \(pid)'s mount namespace belonged to its user namespace and could not be copied into it (\(why)): its mounts are not its to change")
            return false
        }
        let copy: Int32
        do { copy = try UserNamespaceFactory.copy(mounts: built, inside: owner) } catch { return refused("\(error)") }
        defer { close(copy) }
        if let why = try enter(copy, session: session) { return refused("entering the copy: \(why)") }
        return true
    }
}

