/// Since 2026-12-04: a mount namespace of the tree's other than the
/// checkpointer's (TREE tag 5, one record each; ProcessState.mountNamespace
/// points here). Every mount it had, in mountinfo order (parents before the
/// mounts on top of them), each with how the restart makes it again in a new
/// namespace, which starts as a copy of cr_restart's.
public struct MountNamespaceState: Equatable, Sendable {
    public var mounts: [SavedMount]
    /// Since 2026-12-05: its root is a filesystem of its own (pivot_root, as
    /// a container's): none of its mounts is the copy's, and the restart
    /// builds them all under a directory of the copy, then makes that the root.
    public var ownRoot = false

    public init(mounts: [SavedMount], ownRoot: Bool = false) {
        self.mounts = mounts
        self.ownRoot = ownRoot
    }

    enum Tag: UInt16, CaseIterable { case mount = 1, ownRoot = 2 }

    func encode(into e: inout RecordEncoder) {
        for m in mounts { e.record(Tag.mount.rawValue) { m.encode(into: &$0) } }
        if ownRoot { e.u64(Tag.ownRoot.rawValue, 1) }
    }

    init(decoding d: RecordDecoder) throws {
        mounts = try d.records(Tag.mount.rawValue, name: "mount").map { try SavedMount(decoding: $0) }
        guard !mounts.isEmpty else { throw ImageError.malformed(what: "mount namespace without mounts", offset: d.base) }
        ownRoot = try d.u64(Tag.ownRoot.rawValue, default: 0) == 1
        if ownRoot {
            // Nothing of the copy is kept, and the root is among the mounts.
            guard mounts.contains(where: { $0.mountPoint == "/" }), !mounts.contains(where: { $0.plan == .inherited }) else {
                throw ImageError.malformed(what: "mount namespace with a root of its own: it has no / mount, or one is the copy's", offset: d.base)
            }
        }
    }
}

public struct SavedMount: Equatable, Sendable {
    /// How the mount comes back.
    public enum Plan: Equatable, Sendable {
        /// It was also in the checkpointer's namespace: the copy has it already.
        case inherited
        /// A bind of another mount of this namespace (by `id`), from `path` inside it.
        case bindFrom(id: Int32, path: String)
        /// A bind from the checkpointer's namespace: of this directory there.
        case bindHost(path: String)
        /// A bind of mount `id` of another of the tree's namespaces (1-based, made earlier), from `path` inside it.
        case bindNamespace(namespace: Int, id: Int32, path: String)
        /// A new instance of its filesystem (tmpfs, proc, sysfs, ...); a tmpfs's files are in `files`.
        case fresh
        /// None of the above (a disk filesystem not visible outside): left out, with a warning.
        case unsupported
    }

    public var id: Int32
    public var parent: Int32
    public var mountPoint: String
    public var root: String
    public var fsType: String
    public var source: String
    public var superOptions: String
    /// MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME, MS_NOSYMFOLLOW.
    public var flags: UInt64
    /// MS_SHARED, MS_SLAVE and MS_UNBINDABLE bits for what mountinfo said; none: private.
    public var propagation: UInt64
    public var plan: Plan
    /// major << 32 | minor at the checkpoint (which mounts show one filesystem).
    public var device: UInt64 = 0
    /// Its propagation tied it to a mount of the checkpointer's namespace:
    /// 1 in the same peer group (shared with it), 2 its slave; 0 neither.
    public var hostPeer: UInt64 = 0
    /// A fresh tmpfs or ramfs: its files, parents first.
    public var files: [SavedFile] = []
    /// Since 2026-12-05: the peer group it was in (mountinfo "shared:N") and
    /// the one it received from ("master:N"), 0 for none. Only equality
    /// between mounts of one namespace means anything: the restart makes
    /// the same groups (MOVE_MOUNT_SET_GROUP), not the same numbers.
    public var peerGroup: UInt64 = 0
    public var masterGroup: UInt64 = 0

    public init(id: Int32, parent: Int32, mountPoint: String, root: String, fsType: String, source: String,
                superOptions: String, flags: UInt64, propagation: UInt64, plan: Plan) {
        self.id = id; self.parent = parent; self.mountPoint = mountPoint; self.root = root; self.fsType = fsType
        self.source = source; self.superOptions = superOptions; self.flags = flags; self.propagation = propagation; self.plan = plan
    }

    enum Tag: UInt16, CaseIterable {
        case id = 1, parent = 2, mountPoint = 3, root = 4, fsType = 5, source = 6, superOptions = 7
        case flags = 8, propagation = 9, plan = 10, planFrom = 11, planPath = 12, file = 13, planNamespace = 14, device = 15, hostPeer = 16
        case peerGroup = 17, masterGroup = 18
    }

    func encode(into e: inout RecordEncoder) {
        e.i64(Tag.id.rawValue, Int64(id))
        e.i64(Tag.parent.rawValue, Int64(parent))
        e.string(Tag.mountPoint.rawValue, mountPoint)
        e.string(Tag.root.rawValue, root)
        e.string(Tag.fsType.rawValue, fsType)
        e.string(Tag.source.rawValue, source)
        e.string(Tag.superOptions.rawValue, superOptions)
        e.u64(Tag.flags.rawValue, flags)
        e.u64(Tag.propagation.rawValue, propagation)
        switch plan {
        case .inherited: e.u64(Tag.plan.rawValue, 0)
        case .bindFrom(let from, let path):
            e.u64(Tag.plan.rawValue, 1); e.i64(Tag.planFrom.rawValue, Int64(from)); e.string(Tag.planPath.rawValue, path)
        case .bindHost(let path): e.u64(Tag.plan.rawValue, 2); e.string(Tag.planPath.rawValue, path)
        case .fresh: e.u64(Tag.plan.rawValue, 3)
        case .unsupported: e.u64(Tag.plan.rawValue, 4)
        case .bindNamespace(let ns, let from, let path):
            e.u64(Tag.plan.rawValue, 5); e.u64(Tag.planNamespace.rawValue, UInt64(ns))
            e.i64(Tag.planFrom.rawValue, Int64(from)); e.string(Tag.planPath.rawValue, path)
        }
        if device != 0 { e.u64(Tag.device.rawValue, device) }
        if hostPeer != 0 { e.u64(Tag.hostPeer.rawValue, hostPeer) }
        if peerGroup != 0 { e.u64(Tag.peerGroup.rawValue, peerGroup) }
        if masterGroup != 0 { e.u64(Tag.masterGroup.rawValue, masterGroup) }
        for f in files { e.record(Tag.file.rawValue) { f.encode(into: &$0) } }
    }

    init(decoding d: RecordDecoder) throws {
        id = try d.i32(Tag.id.rawValue, "mount id")
        parent = try d.i32(Tag.parent.rawValue, "mount parent")
        guard let mountPoint = d.string(Tag.mountPoint.rawValue), mountPoint.hasPrefix("/"),
              let root = d.string(Tag.root.rawValue), let fsType = d.string(Tag.fsType.rawValue), !fsType.isEmpty else {
            throw ImageError.malformed(what: "mount \(id) without an absolute mount point, root or filesystem type", offset: d.base)
        }
        self.mountPoint = mountPoint; self.root = root; self.fsType = fsType
        source = d.string(Tag.source.rawValue) ?? ""
        superOptions = d.string(Tag.superOptions.rawValue) ?? ""
        flags = try d.u64(Tag.flags.rawValue, default: 0)
        propagation = try d.u64(Tag.propagation.rawValue, default: 0)
        let path = d.string(Tag.planPath.rawValue) ?? ""
        switch try d.u64(Tag.plan.rawValue, "mount plan") {
        case 0: plan = .inherited
        case 1: plan = .bindFrom(id: try d.i32(Tag.planFrom.rawValue, "bind source mount"), path: path)
        case 2 where path.hasPrefix("/"): plan = .bindHost(path: path)
        case 3: plan = .fresh
        case 4: plan = .unsupported
        case 5:
            let ns = try d.u64(Tag.planNamespace.rawValue, "bind source namespace")
            guard (1...(1 << 20)).contains(ns) else { throw ImageError.malformed(what: "mount \(id): bind source namespace \(ns)", offset: d.base) }
            plan = .bindNamespace(namespace: Int(ns), id: try d.i32(Tag.planFrom.rawValue, "bind source mount"), path: path)
        case let p: throw ImageError.malformed(what: "mount \(id) (\(mountPoint)): plan \(p)", offset: d.base)
        }
        device = try d.u64(Tag.device.rawValue, default: 0)
        hostPeer = try d.u64(Tag.hostPeer.rawValue, default: 0)
        guard hostPeer <= 2 else { throw ImageError.malformed(what: "mount \(id) (\(mountPoint)): host peer \(hostPeer)", offset: d.base) }
        peerGroup = try d.u64(Tag.peerGroup.rawValue, default: 0)
        masterGroup = try d.u64(Tag.masterGroup.rawValue, default: 0)
        files = try d.records(Tag.file.rawValue, name: "mount file").map { try SavedFile(decoding: $0) }
    }
}

/// One file of a saved tmpfs: its path inside the mount, what it is, its
/// owner, mode and modification time, and its bytes (a symlink: its target).
public struct SavedFile: Equatable, Sendable {
    public enum Kind: UInt64, Sendable { case directory = 1, regular = 2, symlink = 3, fifo = 4, characterDevice = 5, blockDevice = 6, hardLink = 7 }
    /// Relative to the mount's root, never empty, never with "..".
    public var path: String
    public var kind: Kind
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var modified: (seconds: Int64, nanoseconds: Int64)
    /// File bytes; a symlink's target; a hard link's first path.
    public var data: [UInt8] = []
    public var device: UInt64 = 0

    public init(path: String, kind: Kind, mode: UInt32, uid: UInt32, gid: UInt32, modified: (Int64, Int64)) {
        self.path = path; self.kind = kind; self.mode = mode; self.uid = uid; self.gid = gid; self.modified = modified
    }

    public static func == (a: SavedFile, b: SavedFile) -> Bool {
        a.path == b.path && a.kind == b.kind && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid
            && a.modified == b.modified && a.data == b.data && a.device == b.device
    }

    enum Tag: UInt16, CaseIterable { case path = 1, kind = 2, mode = 3, uid = 4, gid = 5, seconds = 6, nanoseconds = 7, data = 8, device = 9 }

    func encode(into e: inout RecordEncoder) {
        e.string(Tag.path.rawValue, path)
        e.u64(Tag.kind.rawValue, kind.rawValue)
        e.u64(Tag.mode.rawValue, UInt64(mode))
        e.u64(Tag.uid.rawValue, UInt64(uid))
        e.u64(Tag.gid.rawValue, UInt64(gid))
        e.i64(Tag.seconds.rawValue, modified.seconds)
        e.i64(Tag.nanoseconds.rawValue, modified.nanoseconds)
        if !data.isEmpty { e.raw(Tag.data.rawValue, data) }
        if device != 0 { e.u64(Tag.device.rawValue, device) }
    }

    init(decoding d: RecordDecoder) throws {
        guard let path = d.string(Tag.path.rawValue), !path.isEmpty, !path.hasPrefix("/"),
              !path.split(separator: "/").contains(".."),
              let kind = Kind(rawValue: try d.u64(Tag.kind.rawValue, "file kind")) else {
            throw ImageError.malformed(what: "saved mount file \(d.string(Tag.path.rawValue) ?? "") (a relative path and a known kind expected)", offset: d.base)
        }
        self.path = path
        self.kind = kind
        mode = UInt32(truncatingIfNeeded: try d.u64(Tag.mode.rawValue, default: 0o644)) & 0o7777
        uid = UInt32(truncatingIfNeeded: try d.u64(Tag.uid.rawValue, default: 0))
        gid = UInt32(truncatingIfNeeded: try d.u64(Tag.gid.rawValue, default: 0))
        modified = (try d.i64(Tag.seconds.rawValue, "file time"), try d.i64(Tag.nanoseconds.rawValue, "file time"))
        data = d.raw(Tag.data.rawValue) ?? []
        device = try d.u64(Tag.device.rawValue, default: 0)
    }
}
