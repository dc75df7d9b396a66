/// cr_restart --external: where a restored network namespace's device
/// meets the outside, in CRIU's syntax.
///   veth[IN]:OUT[@BRIDGE]  the veth IN gets its other end OUT in cr_restart's
///                          namespace, a port of BRIDGE if given
///   macvlan[IN]:LOWER      the macvlan IN is made on cr_restart's device LOWER
///   netdev[IN]:OUT         cr_restart's device OUT moves in as IN (any kind)
/// Without one, a device's outside end gets the name (and bridge) it had.
public struct ExternalLink: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable { case veth, macvlan, netdev }
    public var kind: Kind
    public var inside: String
    public var outside: String
    public var bridge: String

    public init(kind: Kind, inside: String, outside: String, bridge: String = "") {
        self.kind = kind; self.inside = inside; self.outside = outside; self.bridge = bridge
    }

    /// Parses one --external value; the error says what is wrong with it.
    public init(parsing text: String) throws {
        let usage = "--external \(text): expected veth[IN]:OUT[@BRIDGE], macvlan[IN]:LOWER or netdev[IN]:OUT"
        guard let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]"), open < close,
              let kind = Kind(rawValue: String(text[..<open])) else { throw ExternalLinkError(usage) }
        let inside = String(text[text.index(after: open)..<close])
        let rest = text[text.index(after: close)...]
        guard rest.first == ":" else { throw ExternalLinkError(usage) }
        var outside = String(rest.dropFirst()), bridge = ""
        if kind == .veth, let at = outside.firstIndex(of: "@") {
            bridge = String(outside[outside.index(after: at)...])
            outside = String(outside[..<at])
            guard Self.validName(bridge) else { throw ExternalLinkError("--external \(text): \"\(bridge)\" is not a device name") }
        }
        for name in [inside, outside] where !Self.validName(name) {
            throw ExternalLinkError("--external \(text): \"\(name)\" is not a device name")
        }
        self.init(kind: kind, inside: inside, outside: outside, bridge: bridge)
    }

    /// 1 to 15 bytes, no '/', ':', '@' or white space.
    static func validName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return !bytes.isEmpty && bytes.count < 16 && name != "." && name != ".." && !bytes.contains { $0 == 0x2f || $0 == 0x3a || $0 == 0x40 || $0 <= 0x20 }
    }
}

public struct ExternalLinkError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
