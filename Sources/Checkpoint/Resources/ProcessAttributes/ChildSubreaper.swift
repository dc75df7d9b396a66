import CheckpointImage
import LinuxKit

/// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to
/// this process rather than to init. Any process may set it on itself.
enum ChildSubreaper: ProcessAttribute {
    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws {
        // PR_GET_CHILD_SUBREAPER stores an int at the address it is given.
        try source.session.memory.write(address: source.scratch, bytes: [0, 0, 0, 0])
        try source.session.prctl(.getChildSubreaper, source.scratch)
        state.childSubreaper = try source.session.memory.read(Int32.self, at: source.scratch) != 0
    }

    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> String? {
        if state.childSubreaper { try session.prctl(.setChildSubreaper, 1) }
        return nil
    }
}
