import CheckpointImage
import LinuxKit

/// prctl(PR_SET_MDWE) (Linux 6.3+; systemd's MemoryDenyWriteExecute= uses
/// it): no mapping both writable and executable, none made executable
/// later. It cannot be turned off once set, so it goes in after the final
/// protections (the environment stage comes after them); the restore's own
/// mappings never gain execute after that.
enum MemoryDenyWriteExecute: ProcessAttribute {
    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws {
        let flags = try source.session.prctlRaw(.getMdwe)
        // A kernel without it says EINVAL: nothing set.
        state.memoryDenyWriteExecute = flags > 0 ? UInt64(flags) : 0
    }

    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> String? {
        guard state.memoryDenyWriteExecute != 0 else { return nil }
        let r = try session.prctlRaw(.setMdwe, state.memoryDenyWriteExecute)
        return r < 0 ? "memory-deny-write-execute (PR_SET_MDWE \(state.memoryDenyWriteExecute)) not restored: \(errorText(Int32(-r)))" : nil
    }
}
