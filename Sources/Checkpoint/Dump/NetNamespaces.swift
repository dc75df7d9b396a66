import CheckpointImage
import Glibc
import LinuxKit

/// Processes in network namespaces other than the checkpointer's (`unshare
/// -n`, sandboxes, containers): each namespace is saved as its loopback's
/// state, its TUN/TAP devices, its veth, macvlan, bridge and dummy devices
/// (rtnetlink, asked inside it: NetLinks), their addresses and routes, its
/// settings and its firewall rules (NetFirewall); other interfaces (vxlan, ipvlan...) are named in a
/// warning, not saved. A veth's other end or a macvlan's lower device is
/// found by the id the namespace gives the peer's namespace (RTM_GETNSID):
/// the same one, another saved one, or the checkpointer's (where its name
/// and bridge are noted). Read from /proc/PID/net, which shows the
/// process's namespace to anyone: the interface list (dev) and whether
/// 127.0.0.1 is routed (fib_trie: only while lo is up). Its sockets are
/// saved as any others (sock_diag is asked inside it: DumpContext.everyNetNamespace).
enum NetNamespaces {
    static func collect(_ pids: [pid_t]) -> (found: ForeignNamespaces<NetNamespaceState>, warnings: [String]) {
        var warnings: [String] = []
        var defaults: [String: String]?
        // A process of each network namespace of the tree, and ours: a peer device may be in any of them.
        let ours = (try? Sys.readLink("/proc/self/ns/net")) ?? []
        var members: [[UInt8]: pid_t] = [ours: getpid()]
        for pid in pids { if let link = try? Sys.readLink("/proc/\(pid)/ns/net"), members[link] == nil { members[link] = pid } }
        // Per namespace (by its link), its devices' peers' namespaces (by link; nil: unknown).
        var peerNamespaces: [[UInt8]: [String: [UInt8]?]] = [:]
        var found = ForeignNamespaces(pids, kind: "net", name: "a network") { pid -> Result<NetNamespaceState, NamespaceUnreadable> in
            guard let dev = try? Sys.readText("/proc/\(pid)/net/dev") else { return .failure(NamespaceUnreadable("/proc/\(pid)/net/dev unreadable")) }
            let names = dev.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: ":").first.map { String($0.filter { $0 != " " }) } }
            let routes = (try? Sys.readText("/proc/\(pid)/net/fib_trie")) ?? ""
            var links: [NetLinkInfo] = []
            if names.contains(where: { $0 != "lo" }) {
                do { links = try NetLinks.all(netlink: .of(pid)) } catch {
                    warnings.append("process \(pid): the devices of its network namespace could not be read (\(error)): they are not saved")
                }
            }
            let byIndex = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
            let tuns = links.compactMap(\.tun)
            let virtual = links.filter { VirtualLink.kinds.contains($0.kind) }
            let made = Set(tuns.map(\.name) + virtual.map(\.name))
            let others = names.filter { $0 != "lo" && !made.contains($0) }
            if !others.isEmpty {
                warnings.append("process \(pid) is in a network namespace with interfaces \(others.joined(separator: ", ")), which are not saved: it comes back without them")
            }
            let this = (try? Sys.readLink("/proc/\(pid)/ns/net")) ?? []
            peerNamespaces[this] = peers(of: virtual, in: pid, this: this, members: members)
            let devices = tuns.map { t in
                TunDevice(name: t.name, index: t.index, flags: t.flags, owner: t.owner, group: t.group, mtu: t.mtu, address: t.address, up: t.up,
                          master: links.first { $0.index == t.index }.flatMap { byIndex[$0.master] } ?? "")
            }
            let saved = virtual.map { v in
                VirtualLink(name: v.name, index: v.index, kind: v.kind, mtu: v.mtu, address: v.address, up: v.up, master: byIndex[v.master] ?? "",
                            peerIndex: v.link, macvlanMode: v.macvlanMode)
            }
            var state = NetNamespaceState(loopbackUp: routes.contains("127.0.0.1"), otherInterfaces: others, tunDevices: devices)
            state.links = saved
            do {
                let macs = Dictionary(links.map { ($0.name, $0.tun == nil ? $0.address : []) }, uniquingKeysWith: { a, _ in a })
                (state.addresses, state.routes) = try configuration(of: pid, on: Set(["lo"]).union(made), addresses: macs)
            } catch {
                warnings.append("process \(pid): the addresses and routes of its network namespace could not be read (\(error)): they are not saved")
            }
            if defaults == nil { defaults = freshDefaults() }
            state.sysctls = changedSettings(of: pid, devices: Array(made).sorted(), defaults: defaults ?? [:])
            let firewall = NetFirewall.read(of: pid)
            state.firewall = firewall.rules.map { FirewallRules(kind: $0.kind, text: $0.text) }
            if !firewall.problems.isEmpty {
                warnings.append("process \(pid): firewall rules of its network namespace not saved: \(firewall.problems.joined(separator: "; "))")
            }
            return .success(state)
        }
        warnings += placePeers(&found, peerNamespaces, ours: ours)
        return (found, warnings)
    }

    /// The namespace of each device's peer (a veth's other end, a macvlan's
    /// lower device), by /proc link: this one where IFLA_LINK_NETNSID is
    /// absent, else the member namespace the id names (nil: none of them).
    static func peers(of links: [NetLinkInfo], in pid: pid_t, this: [UInt8], members: [[UInt8]: pid_t]) -> [String: [UInt8]?] {
        var ids: [Int32: [UInt8]] = [:]
        if links.contains(where: { $0.linkNamespace != nil }) {
            for (link, member) in members where link != this {
                if let id = try? NetLinks.namespaceID(of: member, netlink: .of(pid)) { ids[id] = link }
            }
        }
        var result: [String: [UInt8]?] = [:]
        for l in links where l.kind == "veth" || l.kind == "macvlan" {
            result[l.name] = l.linkNamespace.map { ids[$0] } ?? this
        }
        return result
    }

    /// Fills in each peer's namespace number (0: the checkpointer's, whose
    /// device is named); a peer elsewhere comes back in cr_restart's, warned.
    static func placePeers(_ found: inout ForeignNamespaces<NetNamespaceState>, _ peerNamespaces: [[UInt8]: [String: [UInt8]?]], ours: [UInt8]) -> [String] {
        var warnings: [String] = []
        var host: [NetLinkInfo]?
        for (link, k) in found.numbers {
            for j in found.namespaces[k - 1].links.indices where found.namespaces[k - 1].links[j].hasPeer {
                var l = found.namespaces[k - 1].links[j]
                let peerLink = peerNamespaces[link]?[l.name] ?? nil
                if let peerLink, let n = found.numbers[peerLink] {
                    l.peerNamespace = n
                } else {
                    l.peerNamespace = 0
                    if peerLink == ours {
                        if host == nil { host = (try? NetLinks.all()) ?? [] }
                        if let peer = host?.first(where: { $0.index == l.peerIndex }) {
                            l.peerName = peer.name
                            l.peerMaster = host?.first { $0.index == peer.master && peer.master > 0 }?.name ?? ""
                            l.peerUp = peer.up
                        }
                    } else {
                        warnings.append("\(l.kind) device \(l.name) of network namespace \(k): its \(l.kind == "veth" ? "other end" : "lower device") is in a network namespace neither saved nor the checkpointer's; it comes back in cr_restart's")
                    }
                    if peerLink != ours { l.peerIndex = 0 }
                }
                found.namespaces[k - 1].links[j] = l
            }
        }
        return warnings
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
        let values = zip(paths, NetSysctls.read(paths, of: pid)).compactMap { path, value in value.map { (path: path, value: $0) } }
        let changed = Set(values.filter { path, value in
            let parts = path.split(separator: "/").map(String.init)
            let key = parts.count == 4 && !["all", "default", "lo"].contains(parts[2]) ? "\(parts[0])/conf/default/\(parts[3])" : path
            return defaults[key] != value
        }.map(\.path))
        // Writing one of `all`'s sets it for `default` and every device too
        // (forwarding, disable_ipv6...): theirs are written after it, as they
        // were. Writing all's IPv4 forwarding sets all's accept_redirects to its opposite.
        var companions: Set<String> = []
        for path in changed {
            let parts = path.split(separator: "/").map(String.init)
            guard parts.count == 4, parts[2] == "all" else { continue }
            for device in ["default", "lo"] + devices { companions.insert("\(parts[0])/conf/\(device)/\(parts[3])") }
            if path == "ipv4/conf/all/forwarding" { companions.insert("ipv4/conf/all/accept_redirects") }
        }
        return values.filter { changed.contains($0.path) || companions.contains($0.path) }
    }

    /// The addresses of the interfaces made again (`kept`) and the routes
    /// through them or through none. On a device without an Ethernet
    /// address (lo, TUN) IPv6 link-local addresses are the kernel's own and
    /// left to it; elsewhere they are saved: a device's link-local address
    /// comes from its hardware address, which comes back, and a program may
    /// have added one (and one the kernel made as a device came up may not
    /// come again: a bridge without ports has no carrier).
    static func configuration(of pid: pid_t, on kept: Set<String>, addresses macs: [String: [UInt8]]) throws -> ([SavedAddress], [SavedRoute]) {
        let names = try NetConfig.interfaces(netlink: .of(pid))
        let addresses = try NetConfig.addresses(netlink: .of(pid), names: names).filter { a in
            kept.contains(a.interface) && !kernelLinkLocal(a, hardware: macs[a.interface] ?? [])
        }
        let routes = try NetConfig.routes(netlink: .of(pid), names: names).filter { $0.interface.isEmpty || kept.contains($0.interface) }
        return (addresses.map { SavedAddress(family: $0.family, prefixLength: $0.prefixLength, flags: $0.flags, scope: $0.scope, interface: $0.interface,
                                             local: $0.local, peer: $0.peer, broadcast: $0.broadcast, label: $0.label) },
                routes.map { SavedRoute(family: $0.family, destinationLength: $0.destinationLength, table: $0.table, proto: $0.proto, scope: $0.scope,
                                        type: $0.type, destination: $0.destination, gateway: $0.gateway, interface: $0.interface,
                                        priority: $0.priority, preferredSource: $0.preferredSource) })
    }

    /// An fe80::/10 address on a device without an Ethernet address (lo, TUN): the kernel's own.
    static func kernelLinkLocal(_ a: InterfaceAddress, hardware mac: [UInt8]) -> Bool {
        guard a.family == UInt8(AF_INET6), a.local.count == 16, a.local[0] == 0xfe, a.local[1] & 0xc0 == 0x80 else { return false }
        return mac.count != 6
    }
}
