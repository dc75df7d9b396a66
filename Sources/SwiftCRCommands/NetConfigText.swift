import CheckpointImage
import Glibc

/// A saved network namespace's addresses and routes as `ip` prints them, for inspect.
enum NetConfigText {
    static func address(_ bytes: [UInt8], family: UInt8) -> String {
        var text = [CChar](repeating: 0, count: 64)
        let ok = bytes.withUnsafeBytes { inet_ntop(Int32(family), $0.baseAddress, &text, socklen_t(text.count)) } != nil
        return ok ? String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    }

    static func describe(_ a: SavedAddress) -> String {
        let peer = a.peer.isEmpty ? "" : " peer \(address(a.peer, family: a.family))"
        return "\(address(a.local, family: a.family))\(peer)/\(a.prefixLength) dev \(a.interface)"
    }

    static func describe(_ r: SavedRoute) -> String {
        let kind = [6: "blackhole ", 7: "unreachable ", 8: "prohibit "][Int(r.type)] ?? ""
        let to = r.destination.isEmpty ? "default" : "\(address(r.destination, family: r.family))/\(r.destinationLength)"
        let via = r.gateway.isEmpty ? "" : " via \(address(r.gateway, family: r.family))"
        let dev = r.interface.isEmpty ? "" : " dev \(r.interface)"
        let table = r.table == 254 ? "" : " table \(r.table)"
        let metric = r.priority.map { " metric \($0)" } ?? ""
        return "\(kind)\(to)\(via)\(dev)\(table)\(metric)"
    }

    /// A device as one line: "veth0 (veth, index 3, peer eth1 in cr_restart's namespace, port of br0, up)".
    static func describe(_ l: VirtualLink) -> String {
        var parts = [l.kind, "index \(l.index)"]
        if l.hasPeer {
            let what = l.kind == "veth" ? "peer" : "on"
            if l.peerNamespace == 0 {
                parts.append("\(what) \(l.peerName.isEmpty ? "a device" : l.peerName) outside\(l.peerMaster.isEmpty ? "" : " (port of \(l.peerMaster))")")
            } else {
                parts.append("\(what) index \(l.peerIndex) of net ns \(l.peerNamespace)")
            }
        }
        if l.kind == "macvlan" { parts.append("mode \(l.macvlanMode)") }
        if !l.master.isEmpty { parts.append("port of \(l.master)") }
        if l.mtu > 0 { parts.append("mtu \(l.mtu)") }
        if l.up { parts.append("up") }
        return "\(l.name) (\(parts.joined(separator: ", ")))"
    }

    static func hardware(_ address: [UInt8]) -> String {
        address.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}
