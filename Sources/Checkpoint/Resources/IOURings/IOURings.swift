import CheckpointImage
import Glibc

/// An io_uring instance: its rings, registered files and buffers and the
/// requests in flight live in the kernel, with no interface to read them
/// back, so it cannot be saved (CRIU cannot either). Closing it after
/// restart would leave the program waiting on completions that never come:
/// the checkpoint is refused instead, and the target runs on untouched.
enum IOURings: FileKind {
    static let restores: [FileDescriptorState.Kind] = []
    static var followsForkSharing: Bool { false }

    static func claims(_ d: OpenDescriptor) -> Bool { d.link == "anon_inode:[io_uring]" }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        throw refusal(pid: d.pid, what: "fd \(d.fd) is an io_uring instance")
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        .closed("fd \(f.fd) was an io_uring instance")
    }

    static func refusal(pid: pid_t, what: String) -> CheckpointError {
        CheckpointError(ENOTSUP, "process \(pid): \(what), whose state the kernel keeps and swiftcr cannot save (for Node.js, run it with UV_USE_IO_URING=0)")
    }
}
