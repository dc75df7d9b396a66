/// An io_uring instance: its rings, registered files and buffers and the
/// requests in flight live in the kernel, with no interface to read them
/// back, so it cannot be saved (CRIU cannot either). Closing it after
/// restart would leave the program waiting on completions that never come.
/// Its kernel threads are refused by the freezer (they never take a ptrace stop).
enum IOURings: RefusedKind {
    static func claims(_ d: OpenDescriptor) -> Bool { d.link == "anon_inode:[io_uring]" }
    static func what(_ d: OpenDescriptor) -> String { "fd \(d.fd) is an io_uring instance" }
    static let because = "whose state the kernel keeps and swiftcr cannot save (for Node.js, run it with UV_USE_IO_URING=0)"
}
