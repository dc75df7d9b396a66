import CheckpointImage
import LinuxKit

/// prctl(PR_SET_THP_DISABLE): no transparent huge pages for this process.
enum THPDisable: ProcessAttribute {
    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws {
        state.thpDisabled = try source.session.prctl(.getThpDisable) == 1
    }

    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> String? {
        if state.thpDisabled { try session.prctl(.setThpDisable, 1) }
        return nil
    }
}
