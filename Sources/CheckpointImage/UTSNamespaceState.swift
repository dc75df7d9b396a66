/// Since 2026-12-04: a UTS namespace of the tree other than the
/// checkpointer's (`unshare -u`, a container): its host and domain names.
public struct UTSNamespaceState: Equatable, Sendable {
    public var hostname: String
    public var domainname: String

    public init(hostname: String, domainname: String) { self.hostname = hostname; self.domainname = domainname }

    enum Tag: UInt16, CaseIterable { case hostname = 1, domainname = 2 }

    func encode(into e: inout RecordEncoder) {
        e.string(Tag.hostname.rawValue, hostname)
        e.string(Tag.domainname.rawValue, domainname)
    }

    /// Names longer than the kernel's 64 bytes, or holding NUL, are refused.
    init(decoding d: RecordDecoder) throws {
        hostname = d.string(Tag.hostname.rawValue) ?? ""
        domainname = d.string(Tag.domainname.rawValue) ?? ""
        for name in [hostname, domainname] where name.utf8.count > 64 || name.contains("\0") {
            throw ImageError.malformed(what: "UTS namespace name '\(name.prefix(80))' is not up to 64 bytes", offset: d.base)
        }
    }
}
