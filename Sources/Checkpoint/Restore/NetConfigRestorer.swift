import CheckpointImage
import Glibc
import LinuxKit

/// A restored network namespace's addresses, then its routes (a gateway
/// is reached through an address's prefix), set through an rtnetlink
/// socket made inside it (NetlinkSource: in the stub's user and network
/// namespaces, where it may). IPv6 addresses skip duplicate address
/// detection: they were in use, and a socket bound to one must find it
/// usable at once, not tentative for a second (one still tentative at the
/// checkpoint does it again). One the kernel made already
/// (as a device came up) is taken as it is.
enum NetConfigRestorer {
    /// Addresses, routes, then settings; what could not be made is named in
    /// one error, which the restart turns into a warning (RestorerMadeNamespaces).
    static func restore(_ ns: NetNamespaceState, stub pid: pid_t) throws {
        var problems: [String]
        do { problems = try apply(ns, stub: pid) } catch { problems = ["addresses and routes: \(error)"] }
        problems += NetSysctls.write(ns.sysctls, of: pid).map { "net.\($0.path.split(separator: "/").joined(separator: ".")): \(errorText($0.error))" }
        guard problems.isEmpty else { throw CheckpointError(EINVAL, "not made again: \(problems.joined(separator: "; "))") }
    }

    /// Each address and route, in order; what failed (one may need another that failed).
    static func apply(_ ns: NetNamespaceState, stub pid: pid_t) throws -> [String] {
        guard !ns.addresses.isEmpty || !ns.routes.isEmpty else { return [] }
        let source = NetlinkSource.of(pid)
        let indexes = Dictionary(try NetConfig.interfaces(netlink: source).map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let sock = try source.socket(protocol: 0)
        defer { close(sock) }
        var problems: [String] = []
        for a in ns.addresses {
            guard let index = indexes[a.interface] else { problems.append("an address of \(a.interface): no such interface"); continue }
            // IFA_F_NODAD, unless it was still tentative (IFA_F_TENTATIVE: a device without carrier keeps it so).
            let flags = a.flags & NetConfig.settableAddressFlags | (a.family == UInt8(AF_INET6) && a.flags & 0x40 == 0 ? 0x02 : 0)
            do {
                try NetConfig.add(InterfaceAddress(family: a.family, prefixLength: a.prefixLength, flags: flags, scope: a.scope, interface: a.interface,
                                                   local: a.local, peer: a.peer, broadcast: a.broadcast, label: a.label), index: index, on: sock)
            } catch { problems.append("\(error)") }
        }
        for r in ns.routes {
            let index = r.interface.isEmpty ? nil : indexes[r.interface]
            if !r.interface.isEmpty && index == nil { problems.append("a route through \(r.interface): no such interface"); continue }
            do {
                try NetConfig.add(NetRoute(family: r.family, destinationLength: r.destinationLength, table: r.table, proto: r.proto, scope: r.scope,
                                           type: r.type, destination: r.destination, gateway: r.gateway, interface: r.interface,
                                           priority: r.priority, preferredSource: r.preferredSource), index: index, on: sock)
            } catch { problems.append("\(error)") }
        }
        return problems
    }
}
