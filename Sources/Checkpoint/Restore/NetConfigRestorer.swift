import CheckpointImage
import Glibc
import LinuxKit

/// A restored network namespace's addresses, then its routes (a gateway
/// is reached through an address's prefix), set through an rtnetlink
/// socket made inside it (NetlinkSource: in the stub's user and network
/// namespaces, where it may). IPv6 addresses skip duplicate address
/// detection: they were in use, and a socket bound to one must find it
/// usable at once, not tentative for a second. One the kernel made already
/// (as a device came up) is taken as it is.
enum NetConfigRestorer {
    /// The settings under /proc/sys/net that differed from a new namespace's
    /// (NetSysctls); those that cannot be set are named in one error, which
    /// the restart turns into a warning (RestorerMadeNamespaces).
    static func setBack(_ settings: [(path: String, value: String)], stub pid: pid_t) throws {
        let failed = NetSysctls.write(settings, of: pid)
        guard !failed.isEmpty else { return }
        let names = failed.map { "net.\($0.path.split(separator: "/").joined(separator: ".")) (\(errorText($0.error)))" }
        throw CheckpointError(failed[0].error, "settings not set back: \(names.joined(separator: ", "))")
    }

    static func apply(_ ns: NetNamespaceState, stub pid: pid_t) throws {
        guard !ns.addresses.isEmpty || !ns.routes.isEmpty else { return }
        let source = NetlinkSource.of(pid)
        let indexes = Dictionary(try NetConfig.interfaces(netlink: source).map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let sock = try source.socket(protocol: 0)
        defer { close(sock) }
        for a in ns.addresses {
            guard let index = indexes[a.interface] else { throw CheckpointError(ENODEV, "address of interface \(a.interface): no such interface after the restart") }
            let flags = a.flags & NetConfig.settableAddressFlags | (a.family == UInt8(AF_INET6) ? 0x02 : 0)  // IFA_F_NODAD
            try NetConfig.add(InterfaceAddress(family: a.family, prefixLength: a.prefixLength, flags: flags, scope: a.scope, interface: a.interface,
                                               local: a.local, peer: a.peer, broadcast: a.broadcast, label: a.label), index: index, on: sock)
        }
        for r in ns.routes {
            let index = r.interface.isEmpty ? nil : indexes[r.interface]
            if !r.interface.isEmpty && index == nil { throw CheckpointError(ENODEV, "route through \(r.interface): no such interface after the restart") }
            try NetConfig.add(NetRoute(family: r.family, destinationLength: r.destinationLength, table: r.table, proto: r.proto, scope: r.scope,
                                       type: r.type, destination: r.destination, gateway: r.gateway, interface: r.interface,
                                       priority: r.priority, preferredSource: r.preferredSource), index: index, on: sock)
        }
    }
}
