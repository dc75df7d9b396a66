import CheckpointImage
import Glibc

/// A kind of open file whose state only the kernel holds, with no way to
/// read it back, and whose loss the program could not survive: the
/// checkpoint is refused in one line naming it (ENOTSUP), and the target
/// runs on untouched. Nothing of it is ever in an image.
protocol RefusedKind: FileKind {
    /// What the descriptor is, for the refusal ("fd 3 is an io_uring instance").
    static func what(_ d: OpenDescriptor) -> String
    /// Why it cannot be saved, after what it is.
    static var because: String { get }
}

extension RefusedKind {
    static var restores: [FileDescriptorState.Kind] { [] }
    static var followsForkSharing: Bool { false }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        throw refusal(pid: d.pid, what: what(d))
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        .closed("fd \(f.fd) (\(f.path)) cannot be saved")
    }

    static func refusal(pid: pid_t, what: String) -> CheckpointError {
        CheckpointError(ENOTSUP, "process \(pid): \(what), \(because)")
    }
}
