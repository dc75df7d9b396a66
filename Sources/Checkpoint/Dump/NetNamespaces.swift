import CheckpointImage
import Glibc
import LinuxKit

/// Processes in network namespaces other than the checkpointer's (`unshare
/// -n`, sandboxes): each namespace is saved as its loopback's state and its
/// TUN/TAP devices (rtnetlink, asked inside it: TunLinks); other interfaces
/// (veth, bridges...) are named in a warning, not saved. Read from
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
            var tuns: [TunLink] = []
            if names.contains(where: { $0 != "lo" }) {
                do { tuns = try TunLinks.all(netlink: .of(pid)) } catch {
                    warnings.append("process \(pid): the TUN/TAP devices of its network namespace could not be read (\(error)): they are not saved")
                }
            }
            let others = names.filter { name in name != "lo" && !tuns.contains { $0.name == name } }
            if !others.isEmpty {
                warnings.append("process \(pid) is in a network namespace with interfaces \(others.joined(separator: ", ")), which are not saved: it comes back with its loopback\(tuns.isEmpty ? "" : " and TUN/TAP devices") only")
            }
            let devices = tuns.map { TunDevice(name: $0.name, index: $0.index, flags: $0.flags, owner: $0.owner, group: $0.group, mtu: $0.mtu, address: $0.address, up: $0.up) }
            return .success(NetNamespaceState(loopbackUp: routes.contains("127.0.0.1"), otherInterfaces: others, tunDevices: devices))
        }
        return (found, warnings)
    }
}
