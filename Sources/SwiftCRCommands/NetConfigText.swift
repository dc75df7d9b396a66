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
}
