import CheckpointImage
import Glibc
import LinuxKit

/// Processes in a mount namespace other than the checkpointer's (unshare -m,
/// clone(CLONE_NEWNS), a container): each such namespace is saved as its
/// mounts, each with how to make it again in a copy of cr_restart's
/// namespace (SavedMount.Plan), compared with the checkpointer's own mounts.
enum MountNamespaces {
    struct Found {
        var namespaces: [MountNamespaceState] = []
        /// 1-based into `namespaces`; absent: the checkpointer's namespace.
        var index: [pid_t: Int] = [:]
        var warnings: [String] = []
        /// In another namespace that is not saved (no process of it has the
        /// namespace's root for its own, or its root is a filesystem of its
        /// own that cannot be made again, as a disk seen nowhere else): the old warning stands.
        var unsaved: Set<pid_t> = []
        /// Each saved namespace's /proc/PID/ns/mnt link -> its number.
        var numbers: [[UInt8]: Int] = [:]
    }

    /// Filesystems a restart mounts anew rather than binding from somewhere
    /// (an overlay from the directories its options name, a container's root).
    static let fresh: Set<String> = ["tmpfs", "ramfs", "proc", "sysfs", "mqueue", "devpts", "cgroup2", "bpf", "tracefs",
                                     "debugfs", "securityfs", "fusectl", "configfs", "pstore", "hugetlbfs", "binfmt_misc", "overlay"]
    /// A root of its own made anew: in memory with its files, or an overlay of directories of ours.
    static let freshRoots: Set<String> = inMemory.union(["overlay"])
    /// Of those, the ones whose files live only in memory: saved with the mount.
    static let inMemory: Set<String> = ["tmpfs", "ramfs"]

    /// `foreign`: the scope's other namespaces with a process whose root is
    /// the namespace's and its mounts (DumpContext.foreignMounts), numbered
    /// here in the order of `pids` (the order the restart makes them in).
    static func collect(_ pids: [pid_t], foreign: [(link: [UInt8], pid: pid_t, mounts: [MountInfo])]) throws -> Found {
        var found = Found()
        guard let ours = try? Sys.readLink("/proc/self/ns/mnt") else { return found }
        var byLink: [[UInt8]: Int] = [:]
        var host: [MountInfo]?
        for pid in pids {
            guard let link = try? Sys.readLink("/proc/\(pid)/ns/mnt"), link != ours else { continue }
            if let k = byLink[link] {
                if k > 0 { found.index[pid] = k } else { found.unsaved.insert(pid) }
                continue
            }
            // Mount points read relative to a process's root: none of the namespace has its root for its own.
            guard let ns = foreign.first(where: { $0.link == link }) else {
                found.unsaved.insert(pid)
                byLink[link] = 0
                continue
            }
            if host == nil { host = try MountInfo.read(pid: getpid()) }
            // A root of its own (pivot_root, as a container's): every mount is
            // made again under it, the root first: a tmpfs with its files, an
            // overlay of directories of ours, or a directory of ours or of
            // another of the tree's namespaces.
            guard let root = ns.mounts.first(where: { $0.mountPoint == "/" }) else {
                found.unsaved.insert(pid)
                byLink[link] = 0
                continue
            }
            let ownRoot = plan(root, earlier: [], host: host ?? []) != .inherited
            if ownRoot {
                switch plan(root, earlier: [], host: host ?? [], others: found.namespaces, ownRoot: true) {
                case .fresh where freshRoots.contains(root.fsType), .bindHost, .bindNamespace: break
                default:
                    found.unsaved.insert(pid)
                    byLink[link] = 0
                    continue
                }
            }
            let saved = try save(pid: ns.pid, mounts: ns.mounts, host: host ?? [], others: found.namespaces, ownRoot: ownRoot, warnings: &found.warnings)
            found.namespaces.append(saved)
            byLink[link] = found.namespaces.count
            found.numbers[link] = found.namespaces.count
            found.index[pid] = found.namespaces.count
        }
        return found
    }

    /// `others`: the tree's namespaces saved before this one (made before it on restart).
    static func save(pid: pid_t, mounts: [MountInfo], host: [MountInfo], others: [MountNamespaceState], ownRoot: Bool = false,
                     warnings: inout [String]) throws -> MountNamespaceState {
        let hostGroups = Set(host.compactMap(\.peerGroup))
        var saved: [SavedMount] = []
        for (k, m) in mounts.enumerated() {
            var s = SavedMount(id: m.id, parent: m.parent, mountPoint: m.mountPoint, root: m.root, fsType: m.fsType, source: m.source,
                               superOptions: m.superOptions, flags: m.flags, propagation: m.propagation,
                               plan: plan(m, earlier: mounts[..<k], host: host, others: others, ownRoot: ownRoot))
            s.device = UInt64(m.major) << 32 | UInt64(m.minor)
            s.hostPeer = hostPeer(m, hostGroups: hostGroups)
            s.peerGroup = UInt64(m.peerGroup ?? 0)
            s.masterGroup = UInt64(m.masterGroup ?? 0)
            switch s.plan {
            case .fresh where inMemory.contains(m.fsType):
                // A mount over its mount point covers it: read through another of its mounts with the same root, if one shows it.
                let views = [m] + mounts.filter { $0.id != m.id && $0.major == m.major && $0.minor == m.minor && $0.root == m.root }
                var files: [SavedFile]?
                for v in views where files == nil { files = try MountFiles.save(pid: pid, mountPoint: v.mountPoint, device: s.device, mountID: v.id) }
                if let files { s.files = files } else {
                    warnings.append("the \(m.mountPoint) mount (\(m.fsType)) of process \(pid)'s mount namespace is covered by another mount: its files cannot be read, and it comes back empty")
                }
            case .fresh where m.fsType == "binfmt_misc":
                s.files = BinfmtMiscEntries.save(top: "/proc/\(pid)/root\(m.mountPoint)")
            case .unsupported:
                warnings.append("the \(m.mountPoint) mount (\(m.fsType) \(m.source)) of process \(pid)'s mount namespace is seen nowhere else and cannot be mounted again: it is left out")
            default: break
            }
            saved.append(s)
        }
        return MountNamespaceState(mounts: saved, ownRoot: ownRoot)
    }

    /// Propagation between the namespace and ours (unshare copies shared
    /// mounts into their peer groups): 1 a peer of one of ours, 2 a slave of one, 0 neither.
    static func hostPeer(_ m: MountInfo, hostGroups: Set<Int>) -> UInt64 {
        if let g = m.peerGroup, hostGroups.contains(g) { return 1 }
        if let g = m.masterGroup, hostGroups.contains(g) { return 2 }
        return 0
    }

    /// Files reopened by path that are on a mount of another namespace than
    /// their process's (opened there before an unshare, or passed over a
    /// socket) are marked with that namespace: the restart opens them there.
    /// Inotify watches found through another namespace (`watches`: (pid,
    /// fd, watch number) -> that namespace's link) get its number; one of a
    /// namespace not saved is dropped with a warning.
    static func markFiles(_ processes: inout [ProcessState], found: Found, watches: [[Int64]: [UInt8]] = [:], warnings: inout [String]) throws {
        for p in processes.indices {
            for k in processes[p].files.indices {
                guard case .inotify(var record) = processes[p].files[k].payload else { continue }
                let fd = processes[p].files[k].fd
                let own = found.index[processes[p].pid] ?? 0
                record.watches = record.watches.compactMap { w in
                    guard let link = watches[[Int64(processes[p].pid), Int64(fd), Int64(w.wd)]] else {
                        // Found through our mounts: a path of ours, for a process of another namespace.
                        guard own != 0, w.heldBy == nil else { return w }
                        var w = w
                        w.mountNamespace = 0
                        return w
                    }
                    guard let ns = found.numbers[link] else {
                        warnings.append("fd \(fd) of process \(processes[p].pid): inotify watch \(w.wd) on \(w.path) is in a mount namespace that is not saved; it is dropped")
                        return nil
                    }
                    var w = w
                    w.mountNamespace = ns
                    return w
                }
                processes[p].files[k].payload = .inotify(record)
            }
        }
        guard !found.namespaces.isEmpty else { return }
        var owner: [Int32: Int] = [:]
        for m in try MountInfo.read(pid: getpid()) { owner[m.id] = 0 }
        for (k, ns) in found.namespaces.enumerated() { for m in ns.mounts { owner[m.id] = k + 1 } }
        // Unlinked files too: the restart makes them on that namespace's mount.
        let byPath: Set<FileDescriptorState.Kind> = [.regular, .device, .fifo, .node, .unlinked]
        for p in processes.indices {
            for k in processes[p].files.indices where byPath.contains(processes[p].files[k].kind) {
                let f = processes[p].files[k]
                guard let text = try? Sys.readText("/proc/\(processes[p].pid)/fdinfo/\(f.fd)"),
                      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("mnt_id:") }),
                      let id = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap({ Int32($0) }),
                      let ns = owner[id], ns != processes[p].mountNamespace else { continue }
                processes[p].files[k].mountNamespace = ns
            }
        }
    }

    /// The first rule that fits: the same mount as one of ours; a bind of an
    /// earlier mount of the namespace or of one of ours (same device, its
    /// root under theirs); a new instance; or nothing to make it from.
    /// `ownRoot`: the namespace has a root of its own, where nothing of the copy is: none is inherited.
    static func plan(_ m: MountInfo, earlier: ArraySlice<MountInfo>, host: [MountInfo], others: [MountNamespaceState] = [],
                     ownRoot: Bool = false) -> SavedMount.Plan {
        // As often as ours has it: one mounted again on top of such a mount
        // (bubblewrap's proc on /proc, of the same superblock) is a bind of it.
        func same(_ a: MountInfo) -> Bool {
            a.mountPoint == m.mountPoint && a.root == m.root && a.fsType == m.fsType && a.source == m.source && a.major == m.major && a.minor == m.minor
        }
        if !ownRoot, case let copies = host.filter(same).count, copies > 0, earlier.filter(same).count < copies {
            return .inherited
        }
        if let e = earlier.first(where: { $0.major == m.major && $0.minor == m.minor && within(m.root, $0.root) != nil }),
           let inside = within(m.root, e.root) {
            return .bindFrom(id: e.id, path: inside)
        }
        if let h = host.first(where: { $0.major == m.major && $0.minor == m.minor && within(m.root, $0.root) != nil }),
           let inside = within(m.root, h.root) {
            return .bindHost(path: join(h.mountPoint, inside))
        }
        // The same filesystem as a mount of another of the tree's namespaces (a
        // tmpfs the parent's namespace had when this one was cloned from it): shared, not copied.
        let device = UInt64(m.major) << 32 | UInt64(m.minor)
        for (j, ns) in others.enumerated() {
            if let o = ns.mounts.first(where: { $0.device == device && $0.plan != .unsupported && within(m.root, $0.root) != nil }),
               let inside = within(m.root, o.root) {
                return .bindNamespace(namespace: j + 1, id: o.id, path: inside)
            }
        }
        return fresh.contains(m.fsType) ? .fresh : .unsupported
    }

    /// `path` relative to `top` ("" for the same directory), or nil when it is not under it.
    static func within(_ path: String, _ top: String) -> String? {
        if path == top { return "" }
        if top == "/" { return path.hasPrefix("/") ? String(path.dropFirst()) : nil }
        return path.hasPrefix(top + "/") ? String(path.dropFirst(top.count + 1)) : nil
    }

    static func join(_ directory: String, _ inside: String) -> String {
        inside.isEmpty ? directory : directory == "/" ? "/" + inside : directory + "/" + inside
    }
}
