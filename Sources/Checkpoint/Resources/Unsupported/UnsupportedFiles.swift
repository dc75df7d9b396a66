import CheckpointImage

/// Whatever no other kind claims: closed after restart, with a warning.
enum UnsupportedFiles: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.unsupported, .unknown]
    static var followsForkSharing: Bool { false }

    static func claims(_ d: OpenDescriptor) -> Bool { true }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .unsupported
        context.warn("fd \(d.fd) (\(d.link)) cannot be saved yet; it will be closed after restart")
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        .closed("fd \(f.fd) (\(f.path)) was not saved and is closed")
    }
}
