import CheckpointImage
import Glibc
import LinuxKit

/// Processes in network namespaces other than the checkpointer's (`unshare
/// -n`, sandboxes): each namespace is saved as its loopback's state; other
/// interfaces (veth, tun...) are named in a warning, not saved. Read from
/// /proc/PID/net, which shows the process's namespace to anyone: the
/// interface list (dev) and whether 127.0.0.1 is routed (fib_trie: only
/// while lo is up). Its sockets are saved as any others (sock_diag is asked
/// inside it: DumpContext.everyNetNamespace).
enum NetNamespaces {
    static func collect(_ pids: [pid_t]) -> (found: ForeignNamespaces<NetNamespaceState>, warnings: [String]) {
        var warnings: [String] = []
        let found = ForeignNamespaces(pids, kind: "net", name: "a network") { pid -> Result<NetNamespaceState, NamespaceUnreadable> in
            guard let dev = try? Sys.readText("/proc/\(pid)/net/dev") else { return .failure(NamespaceUnreadable("/proc/\(pid)/net/dev unreadable")) }
            let names = dev.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: ":").first.map { String($0.filter { $0 != " " }) } }
            let routes = (try? Sys.readText("/proc/\(pid)/net/fib_trie")) ?? ""
            let others = names.filter { $0 != "lo" }
            if !others.isEmpty {
                warnings.append("process \(pid) is in a network namespace with interfaces \(others.joined(separator: ", ")), which are not saved: it comes back with its loopback only")
            }
            return .success(NetNamespaceState(loopbackUp: routes.contains("127.0.0.1"), otherInterfaces: others))
        }
        return (found, warnings)
    }
}
