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
        var defaults: [String: String]?
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
            var state = NetNamespaceState(loopbackUp: routes.contains("127.0.0.1"), otherInterfaces: others, tunDevices: devices)
            do {
                (state.addresses, state.routes) = try configuration(of: pid, on: Set(["lo"] + tuns.map(\.name)))
            } catch {
                warnings.append("process \(pid): the addresses and routes of its network namespace could not be read (\(error)): they are not saved")
            }
            if defaults == nil { defaults = freshDefaults() }
            state.sysctls = changedSettings(of: pid, devices: tuns.map(\.name), defaults: defaults ?? [:])
            return .success(state)
        }
        return (found, warnings)
    }

    /// A new network namespace's settings (the loopback's, `all`'s and `default`'s).
    static func freshDefaults() -> [String: String] {
        let paths = NetSysctls.paths(devices: ["lo"])
        var table: [String: String] = [:]
        for (path, value) in zip(paths, NetSysctls.read(paths, of: nil)) { table[path] = value }
        return table
    }

    /// The namespace's settings that differ from a new one's: a device's
    /// from `default`'s (what a device made in a new namespace starts with).
    static func changedSettings(of pid: pid_t, devices: [String], defaults: [String: String]) -> [(path: String, value: String)] {
        let paths = NetSysctls.paths(devices: ["lo"] + devices)
        return zip(paths, NetSysctls.read(paths, of: pid)).compactMap { path, value in
            guard let value else { return nil }
            let parts = path.split(separator: "/").map(String.init)
            let key = parts.count == 4 && !["all", "default", "lo"].contains(parts[2]) ? "\(parts[0])/conf/default/\(parts[3])" : path
            return defaults[key] == value ? nil : (path, value)
        }
    }

    /// The addresses of the interfaces made again (`kept`) and the routes
    /// through them or through none. IPv6 link-local addresses are left to
    /// the kernel, which makes one as a device comes up.
    static func configuration(of pid: pid_t, on kept: Set<String>) throws -> ([SavedAddress], [SavedRoute]) {
        let names = try NetConfig.interfaces(netlink: .of(pid))
        let addresses = try NetConfig.addresses(netlink: .of(pid), names: names).filter { a in
            kept.contains(a.interface) && !(a.family == UInt8(AF_INET6) && a.local[0] == 0xfe && a.local[1] & 0xc0 == 0x80)
        }
        let routes = try NetConfig.routes(netlink: .of(pid), names: names).filter { $0.interface.isEmpty || kept.contains($0.interface) }
        return (addresses.map { SavedAddress(family: $0.family, prefixLength: $0.prefixLength, flags: $0.flags, scope: $0.scope, interface: $0.interface,
                                             local: $0.local, peer: $0.peer, broadcast: $0.broadcast, label: $0.label) },
                routes.map { SavedRoute(family: $0.family, destinationLength: $0.destinationLength, table: $0.table, proto: $0.proto, scope: $0.scope,
                                        type: $0.type, destination: $0.destination, gateway: $0.gateway, interface: $0.interface,
                                        priority: $0.priority, preferredSource: $0.preferredSource) })
    }
}
