import CheckpointImage
import Glibc
import LinuxKit

/// Processes in a user namespace one level below the checkpointer's
/// (`unshare -U`, `unshare -Ur`): its ID maps, setgroups and owner.
/// The restart makes the namespace again and the process enters it with
/// its credentials (UserNamespaceCredentials), its other threads made after
/// (ProcessRestore.makeThreadsInside). What it cannot do is found here, and
/// such a process comes back in cr_restart's namespace, as before, with a
/// warning: a PID, cgroup or time namespace of the process that belongs to
/// this user namespace (the restart makes those from outside it). Network, IPC and
/// UTS namespaces that belong to it are made inside it again (`owned`); a
/// mount namespace is built from outside and then copied inside it.
enum UserNamespaces {
    /// ioctl requests on namespace files (linux/nsfs.h: _IO(0xb7, N)).
    static let getUserNamespace = 0xb701, getParent = 0xb702, getOwnerUID = 0xb704
    /// Namespaces a user namespace may own, as /proc/PID/ns names them.
    static let owned = ["mnt", "net", "ipc", "uts", "cgroup", "pid", "time"]
    /// Those the restart makes inside the user namespace again, and their flags.
    static let makesInside: [String: UInt64] = ["net": CloneFlags.newNet, "ipc": CloneFlags.newIPC, "uts": CloneFlags.newUTS,
                                                "mnt": CloneFlags.newMount]

    struct Found {
        var namespaces: [UserNamespaceState] = []
        /// PID -> 1-based index into `namespaces`.
        var index: [pid_t: Int] = [:]
        /// Every process in another user namespace than the checkpointer's
        /// is saved in it or named in a warning here.
        var warnings: [String] = []
        /// Per saved process: its namespaces that belong to its user namespace (CLONE_NEW* flags).
        var owned: [pid_t: UInt64] = [:]
    }

    static func collect(_ processes: [ProcessState]) -> Found {
        let ours = identity(of: "/proc/self/ns/user")
        let foreign = ForeignNamespaces(processes.map(\.pid), kind: "user", name: "a user") { describe($0, ours: ours) }
        var found = Found(namespaces: foreign.namespaces, index: foreign.index, warnings: foreign.warnings)
        for p in processes where found.index[p.pid] != nil {
            let kinds = ownedNamespaces(of: p.pid)
            let unmade = kinds.filter { makesInside[$0] == nil }
            let why = unmade.isEmpty ? nil : "its \(unmade.joined(separator: ", ")) namespace\(unmade.count > 1 ? "s belong" : " belongs") to it"
            guard let why else {
                found.owned[p.pid] = kinds.reduce(0) { $0 | (makesInside[$1] ?? 0) }
                continue
            }
            found.index[p.pid] = nil
            found.warnings.append("process \(p.pid) is in a user namespace other than the checkpointer's that the restart does not make again (\(why)): it comes back in cr_restart's, where its IDs are the ones it has outside")
        }
        return found
    }

    /// The maps of `pid`'s user namespace, or why they are not saved.
    static func describe(_ pid: pid_t, ours: stat?) -> Result<UserNamespaceState, NamespaceUnreadable> {
        let fd = open("/proc/\(pid)/ns/user", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.init("opening it: \(errorText(errno))")) }
        defer { close(fd) }
        let parent = Int32(truncatingIfNeeded: Syscall.raw(NR.ioctl, Int(fd), getParent))
        guard parent >= 0 else { return .failure(.init("its parent namespace: \(errorText(errno))")) }
        var st = stat()
        let isOurs = fstat(parent, &st) == 0 && ours.map { $0.st_ino == st.st_ino && $0.st_dev == st.st_dev } == true
        close(parent)
        guard isOurs else { return .failure(.init("it is below another user namespace than the checkpointer's: one level is saved")) }
        var owner: uid_t = 0
        guard withUnsafeMutablePointer(to: &owner, { Syscall.raw(NR.ioctl, Int(fd), getOwnerUID, Int(bitPattern: $0)) }) == 0 else {
            return .failure(.init("its owner: \(errorText(errno))"))
        }
        guard let uids = try? Sys.readText("/proc/\(pid)/uid_map"), let gids = try? Sys.readText("/proc/\(pid)/gid_map"),
              let setgroups = try? Sys.readText("/proc/\(pid)/setgroups") else {
            return .failure(.init("its ID maps could not be read"))
        }
        guard let uidMap = UserNamespaceState.parseMap(uids), let gidMap = UserNamespaceState.parseMap(gids) else {
            return .failure(.init("its ID maps could not be parsed"))
        }
        return .success(UserNamespaceState(uidMap: uidMap, gidMap: gidMap, setgroupsAllowed: setgroups.hasPrefix("allow"), owner: owner))
    }

    /// The namespaces of `pid` other than the checkpointer's that its user namespace owns.
    static func ownedNamespaces(of pid: pid_t) -> [String] {
        guard let user = identity(of: "/proc/\(pid)/ns/user") else { return [] }
        return owned.filter { kind in
            guard let link = try? Sys.readLink("/proc/\(pid)/ns/\(kind)"), (try? Sys.readLink("/proc/self/ns/\(kind)")) != link else { return false }
            let fd = open("/proc/\(pid)/ns/\(kind)", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return false }
            let owner = Int32(truncatingIfNeeded: Syscall.raw(NR.ioctl, Int(fd), getUserNamespace))
            close(fd)
            guard owner >= 0 else { return false }
            var st = stat()
            defer { close(owner) }
            return fstat(owner, &st) == 0 && st.st_ino == user.st_ino && st.st_dev == user.st_dev
        }
    }

    static func identity(of path: String) -> stat? {
        var st = stat()
        return stat(path, &st) == 0 ? st : nil
    }
}
