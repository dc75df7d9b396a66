import CLinux
import CheckpointImage
import Glibc
import LinuxKit

/// Turns the copy of cr_restart's mounts that a stub's unshare(CLONE_NEWNS)
/// gave it into the image's namespace, by calls injected in the stub (a
/// mount is made only from inside its namespace). What cannot be made is a
/// warning: the process then finds a path missing, as it would say itself.
struct MountNamespaceBuilder {
    /// The image's mounts (for a root of its own: their mount points under the staging root).
    private(set) var saved: [SavedMount]
    /// The namespace's root is a filesystem of its own (MountNamespaceState.ownRoot).
    var ownRoot = false
    let session: RemoteSession
    let stub: pid_t
    private(set) var warnings: [String] = []
    /// Saved mount id -> made (or kept) in the new namespace.
    private var present: Set<Int32> = []
    /// Per-mount flags of the mounts the copy had, by the saved mount they are.
    private var copiedFlags: [Int32: UInt64] = [:]
    /// With peer groups to make (MountPropagation): an O_PATH descriptor in
    /// the stub per mount, taken as soon as it is there.
    private var handles: [Int32: UInt64] = [:]
    /// Per bind of another mount of the namespace: a detached copy of what it
    /// binds, taken as soon as that mount is there. A mount made on one of its
    /// directories since (bubblewrap's tmpfs /tmp under its bind of our
    /// /tmp/x) would hide that path, and a path walk from the mount's root enters it.
    private var bindCopies: [Int32: UInt64] = [:]
    /// Mounts of the copy the image lacks that go only once the restore is
    /// done (MountNamespaceFactory.unmountLingering), and whether the
    /// directory under one was made for it (removed with it).
    private(set) var lingering: [(path: String, madeDirectory: Bool)] = []
    /// The mounts of the tree's namespaces made before (and this one's, once made: namespace `namespace`).
    var others: MadeNamespaceMounts?
    var namespace = 0
    /// The copied mounts keep cr_restart's options: a namespace copied into a
    /// user namespace next locks the flags it has then, as the original's
    /// copy locked ours, and its processes may have changed them since.
    var keepsCopiedOptions = false

    /// Mounts tied to ours (SavedMount.hostPeer) stay tied only for
    /// processes that were root: what is mounted in a peer shows in ours too,
    /// which an image of a user's processes must not be able to do.
    init(saved: [SavedMount], session: RemoteSession, stub: pid_t, mayReachOurs: Bool) {
        self.saved = mayReachOurs ? saved : saved.map { m in var m = m; if m.hostPeer == 1 { m.hostPeer = 0 }; return m }
        self.session = session
        self.stub = stub
    }

    /// `held`: per saved mount bound from elsewhere, a detached copy of its
    /// source (open_tree, taken before the unshare) in the stub.
    mutating func build(held: [Int32: UInt64]) throws {
        if ownRoot { return try buildOwnRoot(held: held) }
        let current = try MountInfo.read(pid: stub)
        var unmatched = Array(saved.indices.filter { saved[$0].plan == .inherited })
        var removed: [MountInfo] = []
        for c in current {
            if let at = unmatched.firstIndex(where: { Self.same(saved[$0], c) }) {
                present.insert(saved[unmatched[at]].id)
                copiedFlags[saved[unmatched[at]].id] = c.flags
                unmatched.remove(at: at)
            } else {
                removed.append(c)
            }
        }
        // The copy's shared mounts are peers of ours. Those the image had as
        // peers (or slaves) of the checkpointer's stay so; the rest become
        // slaves first, so that nothing done here reaches ours.
        var tied: Set<Int32> = []
        if !saved.contains(where: { $0.hostPeer == 1 }) {
            // None stays tied: all at once, those covered by another mount too
            // (a path reaches only the top one; a copy of another of the
            // tree's namespaces, as a user's is, has such stacks).
            try mount(nil, "/", nil, UInt64(MS_REC | MS_SLAVE), nil, what: "the copied mounts: making them slaves")
        }
        for c in current where c.shared && saved.contains(where: { $0.hostPeer == 1 }) {
            let kept = saved.first { present.contains($0.id) && Self.same($0, c) }
            if kept?.hostPeer == 1 { tied.insert(c.id); continue }
            try mount(nil, c.mountPoint, nil, UInt64(MS_SLAVE), nil, what: "\(c.mountPoint): making it a slave")
        }
        // A mount on one still tied to ours is ours too (an unmount would
        // reach ours): one the image lacks came after the checkpoint, and stays.
        removed.removeAll { tied.contains($0.parent) }
        for k in unmatched {
            warnings.append("\(saved[k].mountPoint) (\(saved[k].fsType) \(saved[k].source)) is not mounted here, where the image expects it")
        }
        // The copy's /proc stays until the restore is done where the image has
        // nothing at or below it (zdtm clean_mntns): stubs reopen our
        // descriptors through it. (A mount of the image's below it would go
        // with it then.)
        if !saved.contains(where: { MountNamespaces.within($0.mountPoint, "/proc") != nil }),
           let proc = removed.first(where: { $0.mountPoint == "/proc" && $0.fsType == "proc" }) {
            lingering.append((proc.mountPoint, false))
            removed.removeAll { $0.id == proc.id }
        }
        // Children before their parents; one under a mount already gone went with it.
        var gone: [String] = []
        for c in removed.reversed() where !gone.contains(where: { MountNamespaces.within(c.mountPoint, $0) != nil }) {
            let r = try session.raw(NR.umount2, try session.putString(c.mountPoint), UInt64(MNT_DETACH))
            if r == 0 { gone.append(c.mountPoint) } else { warnings.append("\(c.mountPoint) could not be unmounted (\(errorText(Int32(-r))))") }
        }
        try makeAll(held: held)
    }

    /// Makes every mount the copy does not have, then sets options and
    /// propagation: a read-only mount took its files and the mounts on it first.
    /// `beforeOptions` runs once the mounts are there, while all are still writable.
    private mutating func makeAll(held: [Int32: UInt64], beforeOptions: (inout MountNamespaceBuilder) throws -> Void = { _ in }) throws {
        let groups = MountPropagation.knowsGroups(saved)
        defer { for fd in Array(handles.values) + bindCopies.values { _ = try? session.raw(NR.close, fd) } }
        // Held before anything is made: a mount made later may cover one (bubblewrap's
        // /proc and /dev over the copy's), whose options are then set through its handle.
        try holdCopied()
        for m in saved where present.contains(m.id) { try copyBindSources(in: m) }
        for m in Self.parentsFirst(saved) where m.plan != .inherited && m.plan != .unsupported {
            if try make(m, held: held) {
                present.insert(m.id)
                if m.hostPeer == 0 { try hold(m) }
                try copyBindSources(in: m)
            }
        }
        try beforeOptions(&self)
        // Options and propagation last: a read-only mount took its files and the mounts on it first.
        for (k, m) in saved.enumerated() where present.contains(m.id) {
            // Under another at its mount point, with no handle (holdCopied could not move the
            // one above: a user namespace's copy locks them): its path leads to the one above,
            // and it keeps what the namespace it was copied from gave it.
            if handles[m.id] == nil, saved[(k + 1)...].contains(where: { $0.mountPoint == m.mountPoint && present.contains($0.id) }) { continue }
            if copiedFlags[m.id] != m.flags && !(keepsCopiedOptions && copiedFlags[m.id] != nil) {
                // A root read-only at the end is writable until then (its lent /proc directory goes first).
                var m = m
                if m.id == readOnlyAtEnd { m.flags &= ~UInt64(MS_RDONLY) }
                // Through its descriptor where there is one: a mount covered by another is not reached by its path.
                if let fd = handles[m.id] {
                    try setOptions(fd, m)
                } else {
                    try mount(nil, m.mountPoint, nil, UInt64(MS_REMOUNT | MS_BIND) | m.flags, nil, what: "\(m.mountPoint): its options")
                }
            }
            // A peer or slave of ours is one already (the copy's, or a bind of one).
            if groups || m.hostPeer != 0 { continue }
            // An image without peer groups: each shared mount a group of its own.
            let propagation = m.propagation == 0 ? UInt64(MS_PRIVATE) : m.propagation & ~UInt64(MS_SLAVE)
            if let fd = handles[m.id], propagation.nonzeroBitCount == 1 {
                let r = try session.mountSetattrRaw(fd, propagation: Int(propagation))
                if r != 0 { warnings.append("\(m.mountPoint): its propagation could not be set (\(errorText(Int32(-r))))") }
            } else if propagation != 0 {
                try mount(nil, m.mountPoint, nil, propagation, nil, what: "\(m.mountPoint): its propagation")
            }
        }
        if groups {
            var propagation = MountPropagation(saved: saved.filter { present.contains($0.id) }, handles: handles, session: session, others: others)
            try propagation.apply()
            warnings += propagation.warnings
            // (Mounts tied to ours have no handle: ours is no namespace of the tree.)
            others?.remember(namespace, saved.filter { present.contains($0.id) }.compactMap { m in handles[m.id].map { (m, $0) } }, stub: stub)
        }
    }

    /// Where the copy gets the tmpfs a root of its own is built on: the first
    /// that is a directory and holds nothing the image's mounts are made
    /// from (the tmpfs hides what is under it).
    static let stagingDirectories = ["/mnt", "/media", "/srv", "/tmp", "/var/tmp", "/run", "/opt", "/home", "/dev"]

    /// The first staging directory that is one and has none of `needed` at or below it.
    static func stagingDirectory(avoiding needed: [String], isDirectory: (String) -> Bool) -> String? {
        stagingDirectories.first { d in !needed.contains { MountNamespaces.within($0, d) != nil } && isDirectory(d) }
    }

    /// The paths of ours the mounts are made from by name: an overlay's
    /// directories (binds are taken before, by descriptor).
    static func sourcePaths(_ mounts: [SavedMount]) -> [String] {
        mounts.filter { $0.plan == .fresh && $0.fsType == "overlay" }.flatMap { m in
            m.superOptions.split(separator: ",").flatMap { option -> [String] in
                let parts = option.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, ["lowerdir", "lowerdir+", "upperdir", "workdir", "datadir+"].contains(String(parts[0])) else { return [] }
                return parts[1].split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
            }
        }
    }
    /// A root filesystem made read-only only once the restore is done (it
    /// got a /proc directory for the restore, removed then).
    private var readOnlyAtEnd: Int32?
    /// When the lingering mounts go: the root made read-only then (its
    /// filesystem too, or only the mount), with these per-mount flags.
    private(set) var rootAtEnd: (superblockReadOnly: Bool, flags: UInt64)?

    /// A root of its own: the copy's mounts are made slaves (nothing done
    /// here reaches ours), a private tmpfs on a directory of the copy holds
    /// the new root, every mount is made under it, the root first, and the
    /// stub then moves into it (pivot_root) and detaches the copy's mounts.
    /// Where the image has nothing at or below /proc, the copy's /proc stays
    /// on the new root's until the restore is done: stubs reopen our
    /// descriptors through it.
    private mutating func buildOwnRoot(held: [Int32: UInt64]) throws {
        try mount(nil, "/", nil, UInt64(MS_REC | MS_SLAVE), nil, what: "the copied mounts: making them slaves")
        guard let staging = Self.stagingDirectory(avoiding: Self.sourcePaths(saved), isDirectory: { d in isDirectory(d) }),
              try mount("swiftcr-root", staging, "tmpfs", UInt64(MS_NOSUID | MS_NODEV), "mode=0700", what: "a tmpfs to build the root on, on \(staging)") else {
            warnings.append("the namespace's own root could not be made: it comes back on a copy of cr_restart's")
            return
        }
        let top = staging + "/root"
        guard mkdir("/proc/\(stub)/root\(top)", 0o755) == 0 else {
            warnings.append("the namespace's own root could not be made (\(errorText(errno))): it comes back on a copy of cr_restart's")
            return
        }
        let keepProc = !saved.contains { MountNamespaces.within($0.mountPoint, "/proc") != nil }
        let root = saved.first { $0.mountPoint == "/" }
        // (A filesystem it binds is ours: only the mount of it goes read-only.)
        let superblockReadOnly = root.map { $0.plan == .fresh && MountNamespaces.freshRoots.contains($0.fsType)
                                             && $0.superOptions.split(separator: ",").contains("ro") } ?? false
        if keepProc, let root, superblockReadOnly || root.flags & UInt64(MS_RDONLY) != 0 { readOnlyAtEnd = root.id }
        saved = saved.map { m in
            var m = m
            m.mountPoint = MountNamespaces.join(top, String(m.mountPoint.dropFirst()))
            return m
        }
        try makeAll(held: held) { builder in
            guard keepProc, let root, builder.present.contains(root.id) else { return }
            let directory = "/proc/\(builder.stub)/root\(top)/proc"
            let made = access(directory, F_OK) != 0 && mkdir(directory, 0o555) == 0
            if try builder.mount("/proc", top + "/proc", nil, UInt64(MS_BIND | MS_REC), nil, what: "cr_restart's /proc, for the restore") {
                builder.lingering.append(("/proc", made))
            }
        }
        guard let root, present.contains(root.id) else {
            warnings.append("the namespace's root (\(root?.fsType ?? "none")) could not be made: it comes back on a copy of cr_restart's")
            return
        }
        // pivot_root(".", "."): the copy's root ends on top of the new one, and goes.
        var r = try session.raw(NR.chdir, try session.putString(top))
        if r == 0 { r = try session.raw(NR.pivot_root, try session.putString("."), try session.putString(".")) }
        if r == 0 { r = try session.raw(NR.umount2, try session.putString("."), UInt64(MNT_DETACH)) }
        guard r == 0 else {
            // Not entered: the copy's own /proc is what its processes see, and stays.
            lingering = []
            warnings.append("the namespace's own root could not be entered (\(errorText(Int32(-r)))): its processes see a copy of cr_restart's")
            return
        }
        _ = try session.raw(NR.chdir, try session.putString("/"))
        if readOnlyAtEnd != nil {
            if lingering.isEmpty {
                if superblockReadOnly { try mount(nil, "/", nil, UInt64(MS_REMOUNT | MS_RDONLY), nil, what: "/: its filesystem read-only") }
                try mount(nil, "/", nil, UInt64(MS_REMOUNT | MS_BIND) | root.flags, nil, what: "/: its options")
            } else {
                rootAtEnd = (superblockReadOnly, root.flags)
            }
        }
    }

    /// The mounts in mountinfo order, except that a mount comes after the
    /// one it sits on: one moved (MS_MOVE) onto a mount made after it keeps
    /// its place in mountinfo, before its new parent. (Mounts stacked at one
    /// mount point keep their order so: each sits on the one below.)
    static func parentsFirst(_ mounts: [SavedMount]) -> [SavedMount] {
        let ids = Set(mounts.map(\.id))
        var placed: Set<Int32> = []
        var out: [SavedMount] = []
        var waiting = mounts
        while !waiting.isEmpty {
            var rest: [SavedMount] = []
            for m in waiting {
                if ids.contains(m.parent) && m.parent != m.id && !placed.contains(m.parent) {
                    rest.append(m)
                } else {
                    out.append(m)
                    placed.insert(m.id)
                }
            }
            // A cycle (a damaged image): the rest as they come.
            if rest.count == waiting.count { return out + rest }
            waiting = rest
        }
        return out
    }

    /// The copies of what the binds of `m` bind (bindCopies), by path while nothing covers it.
    /// One that cannot be had is bound by its path later, as before.
    private mutating func copyBindSources(in m: SavedMount) throws {
        for b in saved {
            guard case .bindFrom(m.id, let path) = b.plan, bindCopies[b.id] == nil else { continue }
            let fd = try session.raw(NR.open_tree, UInt64(bitPattern: Int64(AT_FDCWD)), try session.putString(MountNamespaces.join(m.mountPoint, path)),
                                     UInt64(OPEN_TREE_CLONE) | UInt64(O_CLOEXEC))
            guard fd >= 0 else { continue }
            // A copy of a shared mount is its peer: private until the groups are set.
            _ = try session.mountSetattrRaw(UInt64(fd), propagation: MS_PRIVATE)
            bindCopies[b.id] = UInt64(fd)
        }
    }

    /// Handles of the copy's mounts (not those tied to ours). Where the copy
    /// has several at one mount point (a host whose /dev/shm has a second
    /// tmpfs on it), a path reaches only the top one: the ones above are
    /// moved aside onto a staging directory while the one below is opened,
    /// then moved back, lowest first. Their IDs, and so mountinfo's order,
    /// stay. Only with nothing tied to ours: every copied mount is a slave
    /// then, and the move shows nowhere else. Where a move is refused (a
    /// user namespace's locked mounts), the lower ones get no handle.
    private mutating func holdCopied() throws {
        let mine = saved.filter { present.contains($0.id) && $0.hostPeer == 0 }
        let stacks = Dictionary(grouping: mine, by: \.mountPoint).filter { $0.value.count > 1 }
        for m in mine where stacks[m.mountPoint] == nil { try hold(m) }
        let untied = !saved.contains { $0.hostPeer == 1 }
        for (point, stack) in stacks.sorted(by: { $0.key < $1.key }) {
            let aside = untied ? Self.stagingDirectories.first { d in
                MountNamespaces.within(point, d) == nil && MountNamespaces.within(d, point) == nil && isDirectory(d)
            } : nil
            var moved: [UInt64] = []
            // Top first: each is the one the path reaches once those above it are aside.
            for (k, m) in stack.reversed().enumerated() {
                let fd = try session.raw(NR.open_tree, UInt64(bitPattern: Int64(AT_FDCWD)), try session.putString(point), UInt64(O_CLOEXEC))
                guard fd >= 0 else { break }
                handles[m.id] = UInt64(fd)
                guard k < stack.count - 1 else { break }
                guard let aside, try moveMount(UInt64(fd), to: aside) == 0 else { break }
                moved.append(UInt64(fd))
            }
            for fd in moved.reversed() {
                let r = try moveMount(fd, to: point)
                if r != 0 { warnings.append("\(point): a mount moved aside to reach the one below could not be put back (\(errorText(Int32(-r))))") }
            }
        }
    }

    /// A directory at `path` in the stub's view.
    private func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat("/proc/\(stub)/root\(path)", &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }

    /// An O_PATH descriptor of the mount now at `m`'s mount point (it was just made, or the copy has it).
    private mutating func hold(_ m: SavedMount) throws {
        let fd = try session.openRaw(m.mountPoint, flags: UInt64(CL_O_PATH | O_CLOEXEC))
        if fd >= 0 { handles[m.id] = UInt64(fd) } else { warnings.append("\(m.mountPoint): it could not be opened to set its propagation (\(errorText(Int32(-fd))))") }
    }

    /// The same mount as one the copy has (its device may differ after a reboot).
    static func same(_ s: SavedMount, _ c: MountInfo) -> Bool {
        s.mountPoint == c.mountPoint && s.root == c.root && s.fsType == c.fsType && s.source == c.source
    }

    private mutating func make(_ m: SavedMount, held: [Int32: UInt64]) throws -> Bool {
        switch m.plan {
        case .fresh:
            makeMountPoint(m)
            let options = m.superOptions.split(separator: ",")
            let data = options.filter { $0 != "rw" && $0 != "ro" }.joined(separator: ",")
            guard try mount(m.source, m.mountPoint, m.fsType, m.flags & ~UInt64(MS_RDONLY), data, what: "\(m.mountPoint) (\(m.fsType))") else { return false }
            let top = "/proc/\(stub)/root\(m.mountPoint)"
            if m.fsType == "binfmt_misc" {
                warnings += BinfmtMiscEntries.restore(m.files, top: top)
            } else if !m.files.isEmpty {
                warnings += MountFileWriter(top: top, mountPoint: m.mountPoint).write(m.files)
            }
            // A read-only filesystem (not only the mount): once its files are in.
            // (The mount's own flags are set with the others' at the end.)
            // Only where a mount is a filesystem of its own: a sysfs (one per
            // network namespace) may be ours, which must not turn read-only.
            if options.contains("ro") && MountNamespaces.freshRoots.contains(m.fsType) && m.id != readOnlyAtEnd {
                try mount(nil, m.mountPoint, nil, UInt64(MS_REMOUNT | MS_RDONLY), nil, what: "\(m.mountPoint): its filesystem read-only")
            }
            return true
        case .bindFrom(let id, let path):
            guard let source = saved.first(where: { $0.id == id }), present.contains(id) else {
                warnings.append("\(m.mountPoint): the mount it binds from (\(id)) is not there")
                return false
            }
            // The copy taken while nothing covered it, else through the source's
            // descriptor where there is one: another mount may cover it by now.
            if let early = bindCopies[m.id] {
                // Copied again now, where the kernel allows a copy of a detached
                // mount: mountinfo lists mounts in the order they were made.
                guard let now = try copy(of: early, inside: "") else { return try attach(early, m) }
                defer { _ = try? session.raw(NR.close, now) }
                return try attach(now, m)
            }
            if let h = handles[id], let copy = try copy(of: h, inside: path) {
                defer { _ = try? session.raw(NR.close, copy) }
                return try attach(copy, m)
            }
            return try mount(MountNamespaces.join(source.mountPoint, path), m.mountPoint, nil, UInt64(MS_BIND), nil, what: "\(m.mountPoint) (a bind)")
        case .bindHost, .bindNamespace:
            guard let fd = held[m.id] else { return false }
            return try attach(fd, m)
        case .inherited, .unsupported:
            return false
        }
    }

    /// A detached copy (open_tree) of the mount behind `handle`, from `inside` it, made private; nil when the kernel refuses.
    private func copy(of handle: UInt64, inside: String) throws -> UInt64? {
        let flags = UInt64(OPEN_TREE_CLONE) | UInt64(O_CLOEXEC) | (inside.isEmpty ? UInt64(CL_AT_EMPTY_PATH) : 0)
        let fd = try session.raw(NR.open_tree, handle, try session.putString(inside), flags)
        guard fd >= 0 else { return nil }
        // A copy of a shared mount is its peer: private until the groups are set.
        _ = try session.mountSetattrRaw(UInt64(fd), propagation: MS_PRIVATE)
        return UInt64(fd)
    }

    /// move_mount(fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) in the stub: 0 or -errno.
    private func moveMount(_ fd: UInt64, to path: String) throws -> Int64 {
        try session.raw(NR.move_mount, fd, try session.putString(""), UInt64(bitPattern: Int64(AT_FDCWD)),
                        try session.putString(path, at: 8), UInt64(MOVE_MOUNT_F_EMPTY_PATH))
    }

    /// Moves the detached mount `fd` onto `m`'s mount point; false (a warning) when it cannot be.
    private mutating func attach(_ fd: UInt64, _ m: SavedMount) throws -> Bool {
        let r = try moveMount(fd, to: m.mountPoint)
        if r != 0 { warnings.append("\(m.mountPoint) (a bind) could not be mounted (\(errorText(Int32(-r))))") }
        return r == 0
    }

    /// mount_setattr(fd, "", AT_EMPTY_PATH) with the mount's per-mount flags as MOUNT_ATTR_* bits.
    private mutating func setOptions(_ fd: UInt64, _ m: SavedMount) throws {
        let map: [(Int, UInt64)] = [(MS_RDONLY, 0x1), (MS_NOSUID, 0x2), (MS_NODEV, 0x4), (MS_NOEXEC, 0x8), (MS_NODIRATIME, 0x80), (MS_NOSYMFOLLOW, 0x20_0000)]
        var set: UInt64 = 0
        var clear: UInt64 = 0x70  // MOUNT_ATTR__ATIME: the atime mode is set whole
        for (flag, attr) in map { if m.flags & UInt64(flag) != 0 { set |= attr } else { clear |= attr } }
        if m.flags & UInt64(MS_NOATIME) != 0 { set |= 0x10 } else if m.flags & UInt64(MS_STRICTATIME) != 0 { set |= 0x20 }  // else relatime (0)
        let r = try session.mountSetattrRaw(fd, set: set, clear: clear)
        if r != 0 { warnings.append("\(m.mountPoint): its options could not be set (\(errorText(Int32(-r))))") }
    }

    /// The directory a new mount goes on, where it sits on a tmpfs or ramfs
    /// made here whose files could not be saved (a mount covered it at the
    /// checkpoint): made with the directories above it, up to that mount.
    private func makeMountPoint(_ m: SavedMount) {
        guard let parent = saved.first(where: { $0.id == m.parent }), present.contains(parent.id), parent.plan == .fresh,
              MountNamespaces.inMemory.contains(parent.fsType), let below = MountNamespaces.within(m.mountPoint, parent.mountPoint),
              access("/proc/\(stub)/root\(m.mountPoint)", F_OK) != 0 else { return }
        var path = "/proc/\(stub)/root\(parent.mountPoint == "/" ? "" : parent.mountPoint)"
        for part in below.split(separator: "/") {
            path += "/\(part)"
            _ = mkdir(path, 0o755)
        }
    }

    /// mount(2) in the stub, its strings packed in scratch memory; false (a warning) when it fails.
    @discardableResult
    private mutating func mount(_ source: String?, _ target: String, _ type: String?, _ flags: UInt64, _ data: String?, what: String) throws -> Bool {
        var packed: [UInt8] = []
        func place(_ s: String?) -> Int? {
            guard let s else { return nil }
            let at = packed.count
            packed += Array(s.utf8) + [0]
            return at
        }
        let offsets = [place(source), place(target), place(type), place(data)]
        guard packed.count <= 4096 else {
            warnings.append("\(what): its paths and options are too long to mount here")
            return false
        }
        let base = try session.put(packed)
        let args = offsets.map { $0.map { base + UInt64($0) } ?? 0 }
        let r = try session.raw(NR.mount, args[0], args[1], args[2], flags, args[3])
        if r != 0 { warnings.append("\(what) could not be mounted (\(errorText(Int32(-r))))") }
        return r == 0
    }
}
