import CheckpointImage
import Glibc
import LinuxKit

/// memfd_secret memory: its pages are taken out of the kernel's own address
/// space, and no other process (not even through /proc or ptrace) may read
/// them. It cannot be saved; the checkpoint is refused in one line, naming
/// the descriptor or the mapping, and the target runs on untouched.
enum SecretMemory: FileKind {
    static let restores: [FileDescriptorState.Kind] = []
    static var followsForkSharing: Bool { false }

    static func claims(_ d: OpenDescriptor) -> Bool { d.link == "/secretmem (deleted)" }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        throw refusal(pid: d.pid, what: "fd \(d.fd) is a memfd_secret area")
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        .closed("fd \(f.fd) was a memfd_secret area")
    }

    /// A mapping of secret memory (its descriptor may be closed).
    static func isSecret(_ m: MapsEntry) -> Bool { m.shared && m.path == "/secretmem" && m.deleted }

    static func refusal(pid: pid_t, what: String) -> CheckpointError {
        CheckpointError(ENOTSUP, "process \(pid): \(what), whose pages the kernel hides from every other process: swiftcr cannot save it")
    }
}
