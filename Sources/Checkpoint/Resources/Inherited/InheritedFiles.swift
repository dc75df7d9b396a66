import CheckpointImage

/// A terminal or network socket on 0-2 that belongs to whoever started the
/// process: after restart it is the same descriptor of cr_restart.
enum InheritedFiles: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.inherited]
    static var followsForkSharing: Bool { false }

    static func claims(_ d: OpenDescriptor) -> Bool { d.outsideStdio != nil }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .inherited
        state.inheritFrom = d.outsideStdio ?? d.fd
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        try c.inheritStdio(f.inheritFrom, as: f, why: "fd \(f.fd) was \(f.path); this restart has no fd \(f.inheritFrom) to give it, so it stays closed")
    }
}
