import CLinux
import CheckpointImage
import Glibc
import LinuxKit

/// The mounts of the tree's namespaces made so far, each kept as an O_PATH
/// descriptor of ours (reached through /proc/<stub>/fd while the builder
/// still held it), for what a later namespace takes from them:
/// - peer groups that span namespaces (a child that unshared its namespace
///   from a shared "/" stays a peer of its parent's mounts): a later
///   namespace's first mount of a group joins it from here.
///   MOVE_MOUNT_SET_GROUP asks for CAP_SYS_ADMIN over both namespaces, not
///   for the caller to be in either;
/// - binds of a mount that another mount covers there: its path reaches
///   only the top one, its descriptor the mount itself.
final class MadeNamespaceMounts {
    private var kept: [(namespace: Int, mount: SavedMount, fd: Int32)] = []
    /// Mounts a later namespace binds from, by namespace and id: with the
    /// shared ones, all that is kept (a descriptor each, not one per mount
    /// of every namespace).
    private let boundFrom: Set<[Int64]>

    init(namespaces: [MountNamespaceState]) {
        var bound = Set<[Int64]>()
        for ns in namespaces {
            for m in ns.mounts { if case .bindNamespace(let j, let id, _) = m.plan { bound.insert([Int64(j), Int64(id)]) } }
        }
        boundFrom = bound
    }

    deinit { for k in kept { close(k.fd) } }

    /// Whether a namespace made before holds mounts of `group`.
    func knows(_ group: UInt64) -> Bool { kept.contains { $0.mount.peerGroup == group } }

    /// Keeps the mounts of namespace `k`, just made by `stub`, by their descriptors there.
    func remember(_ k: Int, _ mounts: [(SavedMount, UInt64)], stub: pid_t) {
        for (m, handle) in mounts where m.peerGroup != 0 || boundFrom.contains([Int64(k), Int64(m.id)]) {
            let fd = open("/proc/\(stub)/fd/\(handle)", CL_O_PATH | O_CLOEXEC)
            if fd >= 0 { kept.append((k, m, fd)) }
        }
    }

    /// Our descriptor of mount `id` of namespace `k`, if it was kept.
    func descriptor(namespace k: Int, id: Int32) -> Int32? {
        kept.first { $0.namespace == k && $0.mount.id == id }?.fd
    }

    /// Makes `to` (private, reached by `handle` in the stub of `session`) a
    /// peer of the mounts of `group` made before, from one whose root holds
    /// its own. We call move_mount ourselves where we may (root); a user's
    /// restart, whose namespaces belong to a user namespace of the restart's
    /// own, cannot (move_mount wants CAP_SYS_ADMIN over the caller's own
    /// mount namespace too): the stub calls it, with our descriptor reopened.
    /// nil: no such mount; else 0 or the errno the kernel gave.
    func join(_ group: UInt64, to: SavedMount, handle: UInt64, session: RemoteSession) throws -> Int32? {
        guard let source = kept.first(where: { $0.mount.peerGroup == group && MountPropagation.holds($0.mount, to) }) else { return nil }
        let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH | MOVE_MOUNT_SET_GROUP
        let target = open("/proc/\(session.pid)/fd/\(handle)", CL_O_PATH | O_CLOEXEC)
        if target >= 0 {
            defer { close(target) }
            let r = "".withCString { empty in
                Syscall.raw(NR.move_mount, Int(source.fd), Int(bitPattern: empty), Int(target), Int(bitPattern: empty), Int(flags))
            }
            if r == 0 || errno != EPERM { return r == 0 ? 0 : errno }
        }
        let from = try session.openRaw("/proc/\(getpid())/fd/\(source.fd)", flags: UInt64(CL_O_PATH | O_CLOEXEC))
        guard from >= 0 else { return Int32(-from) }
        defer { _ = try? session.raw(NR.close, UInt64(from)) }
        let empty = try session.putString("")
        let r = try session.raw(NR.move_mount, UInt64(from), empty, handle, empty, UInt64(flags))
        return Int32(-r)
    }
}
