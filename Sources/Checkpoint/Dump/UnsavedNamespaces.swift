import Glibc
import LinuxKit

/// Namespaces a checkpoint does not save (PID, time, mount, cgroup, UTS,
/// IPC and network namespaces it does: NamespaceIDs, TimeNamespaces,
/// MountNamespaces, CgroupNamespaces, UTSNamespaces, IPCNamespaces,
/// NetNamespaces, and user namespaces UserNamespaces; a mount namespace
/// only where the process's root is its namespace's). A process in another one than the
/// checkpointer's comes back in cr_restart's: said as a warning, once per kind.
enum UnsavedNamespaces {
    static let kinds: [(file: String, name: String, effect: String)] = [
        ("mnt", "a mount", "its root is not the checkpointer's (chroot, pivot_root): its mounts are not saved and its paths are looked up in cr_restart's"),
        ("net", "a network", "it could not be read"),
        ("ipc", "an IPC", "it could not be read"),
        ("uts", "a UTS", "its host and domain names could not be read (they are, as root or as the owner of its user namespace)"),
        ("cgroup", "a cgroup", "its cgroup root could not be read (it is, as root or as the owner of its user namespace)"),
    ]

    /// `saved`: per kind, the processes whose namespace of that kind was saved.
    static func warnings(_ pids: [pid_t], saved: [String: Set<pid_t>] = [:]) -> [String] {
        kinds.compactMap { kind in
            guard let ours = try? Sys.readLink("/proc/self/ns/\(kind.file)") else { return nil }
            let elsewhere = pids.filter { pid in
                saved[kind.file]?.contains(pid) != true && (try? Sys.readLink("/proc/\(pid)/ns/\(kind.file)")).map { $0 != ours } ?? false
            }
            guard let first = elsewhere.first else { return nil }
            let who = elsewhere.count == 1 ? "process \(first) is" : "processes \(elsewhere.prefix(5).map(String.init).joined(separator: ", "))\(elsewhere.count > 5 ? "..." : "") are"
            return "\(who) in \(kind.name) namespace other than the checkpointer's: it comes back in cr_restart's; \(kind.effect)"
        }
    }
}
