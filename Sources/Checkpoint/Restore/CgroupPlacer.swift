import CheckpointImage
import Glibc
import LinuxKit

/// cr_restart --manage-cgroups: each restored process goes back into the
/// cgroups it was in as its stub is born (before its memory is charged
/// anywhere), and each thread with cgroups of its own as it is made. The
/// restorer writes the task's ID into the cgroup's cgroup.procs (a process),
/// or tasks / cgroup.threads (a thread, cgroup v1 / v2), through a mount of
/// that hierarchy it can see, or as root through a detached mount of its own
/// (fsmount: nothing appears in any namespace). A cgroup that is gone is made
/// again with its saved settings, written before anything joins it (CRIU's
/// soft mode); one that exists keeps its own.
final class CgroupPlacer {
    /// A hierarchy's directory we reach cgroups from, and the cgroup it shows.
    private struct Hierarchy { let fd: Int32; let root: String }
    private var hierarchies: [String: Hierarchy] = [:]
    private lazy var known = ProcCgroup.knownControllers()
    private lazy var mounts = (try? MountInfo.read(pid: getpid())) ?? []
    /// Cgroups made here, for the notes.
    private(set) var made: [String] = []

    /// The image's cgroup namespaces (TreeState.cgroupNamespaces): each one's roots.
    private let namespaces: [[CgroupMembership]]
    private let joiner = NamespaceJoiner(kind: "cgroup", flag: CloneFlags.newCgroup)

    /// Saved settings by "controllers:path", written into the cgroups made again.
    private let settings: [String: CgroupSettings]
    private(set) var warnings: [String] = []

    init(namespaces: [[CgroupMembership]] = [], settings: [CgroupSettings] = []) {
        self.namespaces = namespaces
        self.settings = Dictionary(settings.map { ($0.cgroup.controllers + ":" + $0.cgroup.path, $0) }, uniquingKeysWith: { a, _ in a })
    }

    deinit { for h in hierarchies.values { close(h.fd) } }

    /// Puts a new stub into its process's cgroup namespace and cgroups. The
    /// first process of a namespace makes it: moved into the namespace's
    /// roots, it unshares (the roots become its namespace's), then goes on
    /// into its own cgroups below them; later ones join by setns. A stub is
    /// born in `bornIn` (its parent's; 0: ours). Returns its namespace.
    func place(_ p: ProcessState, stub: pid_t, session: RemoteSession, bornIn: Int) throws -> Int {
        let wanted = p.cgroupNamespace
        guard wanted <= namespaces.count else {
            throw CheckpointError(EINVAL, "process \(p.pid): cgroup namespace \(wanted) of an image that has \(namespaces.count)")
        }
        let now = try joiner.enter(wanted, who: p.pid, stub: stub, session: session, bornIn: bornIn, before: {
            try place(process: stub, who: p.pid, in: namespaces[wanted - 1])
        })
        try place(process: stub, who: p.pid, in: p.cgroups)
        return now
    }

    /// Moves a single-threaded stub (as we see its PID) into `cgroups`;
    /// `who` names the image's process in errors.
    func place(process stub: pid_t, who: pid_t, in cgroups: [CgroupMembership]) throws {
        for c in cgroups where try !already(stub, tid: stub, in: c) {
            try write(stub, to: "cgroup.procs", of: c, who: "process \(who)")
        }
    }

    /// Moves one thread (its TID as we see it) of process `stub` into the cgroups it had of its own.
    func place(thread tid: pid_t, of stub: pid_t, who: pid_t, in cgroups: [CgroupMembership]) throws {
        for c in cgroups where try !already(stub, tid: tid, in: c) {
            try write(tid, to: c.controllers.isEmpty ? "cgroup.threads" : "tasks", of: c, who: "thread \(who)")
        }
    }

    private func already(_ pid: pid_t, tid: pid_t, in c: CgroupMembership) throws -> Bool {
        let now = try ProcCgroup.read(pid: pid, tid: tid)
        return now.contains { $0.controllers == c.controllers && $0.path == c.path }
    }

    private func write(_ id: pid_t, to file: String, of c: CgroupMembership, who: String) throws {
        let name = "\(c.controllers.isEmpty ? "cgroup2" : c.controllers):\(c.path)"
        func fail(_ code: Int32, _ what: String) -> CheckpointError {
            CheckpointError(code, "cannot put \(who) into cgroup \(name) (\(what)): \(errorText(code)); without --manage-cgroups it stays in cr_restart's")
        }
        let h = try hierarchy(c.controllers, showing: c.path, name: name)
        let dir = try directory(c, in: h, fail: fail)
        defer { close(dir) }
        let fd = openat(dir, file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail(errno, "open \(file)") }
        defer { close(fd) }
        let text = Array(String(id).utf8)
        let n = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == text.count else { throw fail(n < 0 ? errno : EIO, "write \(file)") }
    }

    /// The cgroup's directory, made (and its missing parents) if it is gone.
    private func directory(_ c: CgroupMembership, in h: Hierarchy, fail: (Int32, String) -> CheckpointError) throws -> Int32 {
        let skip = h.root == "/" ? 0 : h.root.split(separator: "/").count
        var at = dup(h.fd)
        guard at >= 0 else { throw fail(errno, "dup") }
        for (k, step) in c.components.enumerated().dropFirst(skip) {
            var next = openat(at, String(step), OpenFlags.path | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT {
                if mkdirat(at, String(step), 0o755) != 0 && errno != EEXIST { let e = errno; close(at); throw fail(e, "mkdir \(step)") }
                if !made.contains(c.path) { made.append(c.path) }
                next = openat(at, String(step), OpenFlags.path | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                // Its settings before anything joins it (a v1 cpuset takes no task without cpus and mems).
                let path = "/" + c.components[...k].joined(separator: "/")
                if next >= 0 && c.controllers.split(separator: ",").contains("cpuset") { Self.inheritCPUs(at, next) }
                if next >= 0, let saved = settings[c.controllers + ":" + path] {
                    apply(saved, to: next)
                    own(saved, directory: next, named: String(step), in: at)
                }
            }
            let e = errno
            close(at)
            guard next >= 0 else { throw fail(e, "open \(step)") }
            at = next
        }
        return at
    }

    /// A new v1 cpuset cgroup has no CPUs and no memory nodes, and takes no
    /// task so: it gets its parent's (saved ones, written next, win). One
    /// made under a new --cgroup-root has no saved ones at all.
    private static func inheritCPUs(_ parent: Int32, _ made: Int32) {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            var text = [UInt8](repeating: 0, count: 4096)
            let fd = openat(parent, file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return }
            let n = text.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard n > 1 else { continue }
            let out = openat(made, file, O_WRONLY | O_CLOEXEC)
            guard out >= 0 else { continue }
            _ = text.withUnsafeBytes { Glibc.write(out, $0.baseAddress, n) }
            close(out)
        }
    }

    /// Makes every saved cgroup that is gone, those no process of the image
    /// is in too (empty ones below the processes' own), parents first, each
    /// with its settings and owners. What cannot be made is a warning: no
    /// process depends on it.
    func makeRemaining() {
        for saved in settings.values.sorted(by: { ($0.cgroup.components.count, $0.cgroup.path) < ($1.cgroup.components.count, $1.cgroup.path) }) {
            let c = saved.cgroup
            let name = "\(c.controllers.isEmpty ? "cgroup2" : c.controllers):\(c.path)"
            do {
                let h = try hierarchy(c.controllers, showing: c.path, name: name)
                let dir = try directory(c, in: h) { code, what in CheckpointError(code, "\(what): \(errorText(code))") }
                close(dir)
            } catch {
                warnings.append("cgroup \(name) was not made again: \(error)")
            }
        }
    }

    /// Gives a made cgroup its saved owner and mode, and its files theirs
    /// (a delegated cgroup's files belong to the delegate). The directory
    /// last: a mode without write for us would stop nothing here (we hold
    /// it open), but an owner change is the one a user's restart cannot make.
    private func own(_ saved: CgroupSettings, directory: Int32, named name: String, in parent: Int32) {
        var refused: [String] = []
        func set(_ at: Int32, _ file: String, _ o: CgroupOwnership) {
            var st = stat()
            guard fstatat(at, file, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
            if st.st_uid != o.uid || st.st_gid != o.gid, fchownat(at, file, o.uid, o.gid, AT_SYMLINK_NOFOLLOW) != 0 {
                refused.append("\(file)'s owner \(o.uid):\(o.gid) (\(errorText(errno)))")
            }
            if st.st_mode & 0o7777 != o.mode, fchmodat(at, file, o.mode, 0) != 0 {
                refused.append("\(file)'s mode \(String(o.mode, radix: 8)) (\(errorText(errno)))")
            }
        }
        for (file, o) in saved.files { set(directory, file, o) }
        if let o = saved.directory { set(parent, name, o) }
        if !refused.isEmpty { warnings.append("cgroup \(saved.cgroup.path) was made again without \(refused.joined(separator: ", "))") }
    }

    /// Writes a made cgroup's saved settings; what the kernel refuses is said once per cgroup.
    private func apply(_ saved: CgroupSettings, to directory: Int32) {
        var refused: [String] = []
        // A v1 devices cgroup starts with its parent's rules: all denied, then its own allowed.
        if let rules = saved.devices?.split(separator: "\n").map(String.init), rules != ["a *:* rwm"] {
            refused += Self.write(["a"], to: "devices.deny", in: directory) + Self.write(rules, to: "devices.allow", in: directory)
        }
        for (file, value) in saved.values {
            var text = value
            switch file {
            case "cgroup.type": guard value == "threaded" else { continue }
            case "cgroup.subtree_control": text = value.split(separator: " ").map { "+" + $0 }.joined(separator: " ")
            default: break
            }
            guard !text.isEmpty else { continue }
            // A file of one setting a line takes them one write each.
            refused += Self.write(CgroupSettings.lineByLine.contains(file) ? text.split(separator: "\n").map(String.init) : [text], to: file, in: directory)
        }
        if !refused.isEmpty { warnings.append("cgroup \(saved.cgroup.path) was made again without \(refused.joined(separator: ", "))") }
    }

    /// Writes each line into `file` of `directory`, one write(2) each (a
    /// devices or net_prio file takes one rule a write); returns the lines
    /// the kernel refused, each with why.
    private static func write(_ lines: [String], to file: String, in directory: Int32) -> [String] {
        let fd = openat(directory, file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            return lines.map { "\(file)=\($0) (\(errorText(e)))" }
        }
        defer { close(fd) }
        return lines.compactMap { line in
            line.withCString { Glibc.write(fd, $0, strlen($0)) } < 0 ? "\(file)=\(line) (\(errorText(errno)))" : nil
        }
    }

    /// A mount of the hierarchy whose root is `path` or above it (the
    /// shortest root first), else a detached one of ours (root only).
    private func hierarchy(_ controllers: String, showing path: String, name: String) throws -> Hierarchy {
        if let h = hierarchies[controllers], h.root == "/" || path == h.root || path.hasPrefix(h.root + "/") { return h }
        for m in ProcCgroup.mounts(of: controllers, showing: path, in: mounts, known: known) {
            let fd = open(m.mountPoint, OpenFlags.path | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            let h = Hierarchy(fd: fd, root: m.root)
            if let old = hierarchies[controllers] { close(old.fd) }
            hierarchies[controllers] = h
            return h
        }
        let fd = try Self.detachedMount(controllers, name: name)
        let h = Hierarchy(fd: fd, root: "/")
        hierarchies[controllers] = h
        return h
    }

    /// A new mount of the hierarchy attached nowhere (fsopen, fsconfig, fsmount).
    static func detachedMount(_ controllers: String, name: String) throws -> Int32 {
        func fail(_ e: Error) -> CheckpointError {
            let code = (e as? SystemCallError)?.errno.rawValue ?? EIO
            return CheckpointError(code, "cgroup \(name): its hierarchy is mounted nowhere here, and mounting it failed (\(e))")
        }
        let setFlag = 0, setString = 1, create = 6  // FSCONFIG_SET_FLAG, _SET_STRING, _CMD_CREATE
        func config(_ fs: Int32, _ command: Int, _ key: String?, _ value: String?) throws {
            _ = try (key ?? "").withCString { k in
                try (value ?? "").withCString { v in
                    try rawSyscall("fsconfig \(key ?? "create")", NR.fsconfig, Int(fs), command,
                                   key == nil ? 0 : Int(bitPattern: k), value == nil ? 0 : Int(bitPattern: v), 0)
                }
            }
        }
        do {
            let fs = Int32(try (controllers.isEmpty ? "cgroup2" : "cgroup").withCString {
                try rawSyscall("fsopen", NR.fsopen, Int(bitPattern: $0), 1)  // FSOPEN_CLOEXEC
            })
            defer { close(fs) }
            var options = controllers.split(separator: ",").map(String.init)
            if !options.isEmpty && options.allSatisfy({ $0.hasPrefix("name=") }) { options.append("none") }
            for o in options {
                if o.hasPrefix("name=") { try config(fs, setString, "name", String(o.dropFirst(5))) } else { try config(fs, setFlag, o, nil) }
            }
            try config(fs, create, nil, nil)
            return Int32(try rawSyscall("fsmount", NR.fsmount, Int(fs), 1, 0))  // FSMOUNT_CLOEXEC
        } catch {
            throw fail(error)
        }
    }

}
