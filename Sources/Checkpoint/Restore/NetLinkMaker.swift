import CheckpointImage
import Glibc
import LinuxKit

/// The veth, macvlan, bridge and dummy devices of the restored network
/// namespaces, made once every namespace exists (a veth's ends may be in
/// two of them): each at its index where free, with its name, MTU and
/// hardware address; then each port joins its bridge and the devices that
/// were up come up. Requests go through rtnetlink sockets made inside a
/// namespace (NetlinkSource.of its stub) or in cr_restart's; a device goes
/// to another namespace by a descriptor of it (IFLA_NET_NS_FD), which the
/// kernel reads from the sender's table: ours.
///   veth, both ends in one namespace: made there as a pair.
///   veth across two saved namespaces: made from the first, its other end in the second.
///   veth with its other end outside: that end goes to cr_restart's
///     namespace, named as --external says or as it was, into its bridge.
///   macvlan: made on its lower device, from the lower device's namespace.
///   --external netdev[IN]:OUT: cr_restart's device OUT moves in as IN.
/// What cannot be made is named in the returned problems, the rest is made.
struct NetLinkMaker {
    let nets: [NetNamespaceState]
    /// A stub in each namespace made (1-based).
    let stubs: [Int: pid_t]
    /// The restorer's descriptor of a made namespace, and of its own.
    let descriptor: (Int) -> Int32?
    let ours: Int32
    let externals: [ExternalLink]
    private var sockets: [Int: Int32] = [:]
    private var problems: [String] = []
    /// Outside ends to put into their bridge and bring up: (name, bridge, up).
    private var outside: [(name: String, bridge: String, up: Bool)] = []

    init(nets: [NetNamespaceState], stubs: [Int: pid_t], descriptor: @escaping (Int) -> Int32?, ours: Int32, externals: [ExternalLink]) {
        self.nets = nets; self.stubs = stubs; self.descriptor = descriptor; self.ours = ours; self.externals = externals
    }

    /// Makes every device, then masters and up flags; returns what could not be done.
    mutating func makeAll() -> [String] {
        defer { for s in sockets.values { close(s) }; sockets = [:] }
        let made = nets.indices.map { $0 + 1 }.filter { stubs[$0] != nil }
        // Lower devices before the macvlans on them.
        for macvlans in [false, true] {
            for k in made {
                for l in nets[k - 1].links where (l.kind == "macvlan") == macvlans {
                    do { try make(l, in: k) } catch { problems.append("\(l.kind) device \(l.name): \(error)") }
                }
            }
        }
        for k in made { settle(k) }
        settleOutside()
        return problems
    }

    private mutating func socket(_ k: Int) throws -> Int32 {
        if let s = sockets[k] { return s }
        let s = try (k == 0 ? NetlinkSource.here : NetlinkSource.of(stubs[k] ?? 0)).socket(protocol: 0)
        sockets[k] = s
        return s
    }

    private func external(_ l: VirtualLink) -> ExternalLink? {
        externals.first { $0.inside == l.name && ($0.kind == .netdev || $0.kind.rawValue == l.kind) }
    }

    private func namespace(_ k: Int) throws -> Int32 {
        guard let fd = descriptor(k) else { throw CheckpointError(ENOENT, "network namespace \(k) was not made") }
        return fd
    }

    private mutating func make(_ l: VirtualLink, in k: Int) throws {
        let ext = external(l)
        if let ext, ext.kind == .netdev { return try moveIn(ext.outside, as: l, in: k) }
        var new = NewLink(name: l.name, index: l.index, kind: l.kind, mtu: l.mtu, address: l.address)
        var via = k
        switch (l.kind, l.peerNamespace) {
        case ("veth", 0):
            let name = ext?.outside ?? l.peerName
            new.peer = (name, l.peerIndex, l.mtu, [])
            new.peerNamespaceFD = ours
            outside.append((name, ext?.bridge ?? l.peerMaster, l.peerUp))
        case ("veth", let j):
            // A pair is made once: from its lower index's end in one namespace, from the first namespace across two.
            guard j == k ? l.index < l.peerIndex : k < j else { return }
            guard let peer = nets[j - 1].links.first(where: { $0.index == l.peerIndex && $0.kind == "veth" }) else {
                throw CheckpointError(ENOENT, "its other end (index \(l.peerIndex) of namespace \(j)) is not in the image")
            }
            new.peer = (peer.name, peer.index, peer.mtu, peer.address)
            if j != k { new.peerNamespaceFD = try namespace(j) }
        case ("macvlan", 0):
            let lower = ext?.outside ?? l.peerName
            guard let index = try NetConfig.interfaces(netlink: .here).first(where: { $0.value == lower })?.key else {
                throw CheckpointError(ENOENT, "its lower device \(lower.isEmpty ? "(unnamed)" : lower) is not in cr_restart's network namespace")
            }
            (new.lower, new.macvlanMode, new.namespaceFD, via) = (index, l.macvlanMode, try namespace(k), 0)
        case ("macvlan", let j):
            // The lower device by its saved name, at its index now.
            let saved = nets[j - 1].links.map { ($0.index, $0.name) } + nets[j - 1].tunDevices.map { ($0.index, $0.name) }
            guard let name = saved.first(where: { $0.0 == l.peerIndex })?.1,
                  let index = try NetConfig.interfaces(netlink: .of(stubs[j] ?? 0)).first(where: { $0.value == name })?.key else {
                throw CheckpointError(ENOENT, "its lower device (index \(l.peerIndex) of namespace \(j)) was not made")
            }
            (new.lower, new.macvlanMode, via) = (index, l.macvlanMode, j)
            if j != k { new.namespaceFD = try namespace(k) }
        default: break
        }
        try create(new, via: via)
    }

    /// Makes `new` at its indexes, or where they are taken at the kernel's; an outside end whose name is taken gets the kernel's name.
    private mutating func create(_ new: NewLink, via k: Int) throws {
        let sock = try socket(k)
        var attempt = new
        // At the saved indexes; where one is taken (EBUSY), the other end's at the kernel's choice, then both.
        for step in 0..<3 {
            if step == 1 { guard var p = attempt.peer, p.index != 0 else { continue }; p.index = 0; attempt.peer = p }
            if step == 2 { attempt.index = 0 }
            do {
                if try NetLinks.make(attempt, on: sock) { return }
                break
            } catch let e as SystemCallError where e.errno == .resourceBusy && step < 2 {}
        }
        guard var p = attempt.peer, attempt.peerNamespaceFD == ours, !p.name.isEmpty else {
            throw CheckpointError(EEXIST, "a device of its name is there already")
        }
        // The outside end's name is taken (the original may still run): the kernel names it.
        problems.append("veth device \(new.name): its other end could not be named \(p.name) in cr_restart's network namespace (taken); the kernel named it")
        if let o = outside.lastIndex(where: { $0.name == p.name }) { outside.remove(at: o) }
        p.name = ""
        attempt.peer = p
        try NetLinks.make(attempt, on: sock)
    }

    /// --external netdev: cr_restart's device `name` moves into namespace `k` as `l`.
    private mutating func moveIn(_ name: String, as l: VirtualLink, in k: Int) throws {
        let host = try socket(0)
        guard let index = try NetConfig.interfaces(netlink: .here).first(where: { $0.value == name })?.key else {
            throw CheckpointError(ENOENT, "cr_restart's device \(name) (--external) does not exist")
        }
        let fd = try namespace(k)
        do { try NetLinks.move(index, to: fd, name: l.name, newIndex: l.index, on: host) } catch {
            try NetLinks.move(index, to: fd, name: l.name, newIndex: 0, on: host)
        }
        let inside = try socket(k)
        guard let now = try NetConfig.interfaces(netlink: .of(stubs[k] ?? 0)).first(where: { $0.value == l.name })?.key else { return }
        try NetLinks.set(now, mtu: l.mtu > 0 ? l.mtu : nil, address: l.address, on: inside, what: "setting \(l.name)'s MTU and address")
    }

    /// Each port into its bridge, then the devices that were up come up.
    private mutating func settle(_ k: Int) {
        do {
            let sock = try socket(k)
            let indexes = Dictionary(try NetConfig.interfaces(netlink: .of(stubs[k] ?? 0)).map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            let ns = nets[k - 1]
            let ports = ns.links.map { ($0.name, $0.master) } + ns.tunDevices.map { ($0.name, $0.master) }
            for (name, master) in ports where !master.isEmpty {
                guard let port = indexes[name], let bridge = indexes[master] else {
                    problems.append("\(name): not made a port of \(master) (one of them is missing)"); continue
                }
                do { try NetLinks.set(port, master: bridge, on: sock, what: "making \(name) a port of \(master)") } catch { problems.append("\(error)") }
            }
            for l in ns.links where l.up {
                guard let index = indexes[l.name] else { continue }
                do { try NetLinks.set(index, up: true, on: sock, what: "bringing \(l.name) up") } catch { problems.append("\(error)") }
            }
        } catch { problems.append("network namespace \(k): \(error)") }
    }

    /// The outside ends of veth pairs into their bridges, and up.
    private mutating func settleOutside() {
        guard !outside.isEmpty else { return }
        do {
            let sock = try socket(0)
            let indexes = Dictionary(try NetConfig.interfaces(netlink: .here).map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            for o in outside {
                guard let index = indexes[o.name] else { continue }
                if !o.bridge.isEmpty {
                    if let bridge = indexes[o.bridge] {
                        do { try NetLinks.set(index, master: bridge, on: sock, what: "making \(o.name) a port of \(o.bridge)") } catch { problems.append("\(error)") }
                    } else {
                        problems.append("\(o.name): cr_restart's bridge \(o.bridge) does not exist")
                    }
                }
                if o.up {
                    do { try NetLinks.set(index, up: true, on: sock, what: "bringing \(o.name) up") } catch { problems.append("\(error)") }
                }
            }
        } catch { problems.append("cr_restart's network namespace: \(error)") }
    }
}
