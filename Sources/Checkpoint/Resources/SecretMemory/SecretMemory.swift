import LinuxKit

/// memfd_secret memory: its pages are taken out of the kernel's own address
/// space, and no other process (not even through /proc or ptrace) may read
/// them. Refused by its descriptor, or by its mapping once that is closed.
enum SecretMemory: RefusedKind {
    static func claims(_ d: OpenDescriptor) -> Bool { d.link == "/secretmem (deleted)" }
    static func what(_ d: OpenDescriptor) -> String { "fd \(d.fd) is a memfd_secret area" }
    static let because = "whose pages the kernel hides from every other process: swiftcr cannot save it"

    /// A mapping of secret memory (its descriptor may be closed).
    static func isSecret(_ m: MapsEntry) -> Bool { m.shared && m.path == "/secretmem" && m.deleted }
}
