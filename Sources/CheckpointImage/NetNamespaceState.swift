/// Since 2026-12-04: a network namespace of the tree other than the
/// checkpointer's (`unshare -n`, a sandbox): whether its loopback was up,
/// and the names of its other interfaces, which are not saved (a restart
/// makes the namespace with its loopback only).
public struct NetNamespaceState: Equatable, Sendable {
    public var loopbackUp: Bool
    public var otherInterfaces: [String]

    public init(loopbackUp: Bool, otherInterfaces: [String]) { self.loopbackUp = loopbackUp; self.otherInterfaces = otherInterfaces }

    enum Tag: UInt16, CaseIterable { case loopbackUp = 1, otherInterface = 2 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.loopbackUp.rawValue, loopbackUp ? 1 : 0)
        for name in otherInterfaces { e.string(Tag.otherInterface.rawValue, name) }
    }

    init(decoding d: RecordDecoder) throws {
        loopbackUp = try d.u64(Tag.loopbackUp.rawValue, default: 0) != 0
        otherInterfaces = d.fields.filter { $0.tag == Tag.otherInterface.rawValue }.map { String(decoding: d.bytes[$0.range], as: UTF8.self) }
    }
}
