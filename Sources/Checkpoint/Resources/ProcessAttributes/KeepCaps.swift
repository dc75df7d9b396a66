import CheckpointImage
import LinuxKit

/// prctl(PR_SET_KEEPCAPS): capabilities survive the next setuid from root.
/// Read here; set again only after the credentials (their restore uses
/// the flag itself and leaves it off), in ProcessRestore's credentials stage.
enum KeepCaps: ProcessAttribute {
    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws {
        state.keepCaps = try source.session.prctl(.getKeepCaps) == 1
    }

    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> String? { nil }

    /// After the credentials drop.
    static func restoreLast(_ state: ProcessState, in session: RemoteSession) throws {
        if state.keepCaps { try session.prctl(.setKeepCaps, 1) }
    }
}
