import CheckpointImage
import LinuxKit

/// prctl(PR_SET_KEEPCAPS): capabilities survive the next setuid from root.
/// Read here; set again only after the credentials (their restore uses
/// the flag itself and leaves it off), in ProcessRestore's credentials stage.
enum KeepCaps: ProcessAttribute {
    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws {
        state.keepCaps = try source.session.prctl(.getKeepCaps) == 1
        // The other securebits (SECBIT_NOROOT, NO_SETUID_FIXUP, the locks...),
        // set again by TaskRestorer.restoreCapabilities while it may.
        let bits = try source.session.prctl(.getSecurebits)
        state.secureBits = bits & ~Self.keepCapsBit != 0 ? bits : 0
    }

    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> String? { nil }

    /// After the credentials drop. Securebits set with SECBIT_KEEP_CAPS_LOCKED
    /// hold the flag already (and refuse it).
    static func restoreLast(_ state: ProcessState, in session: RemoteSession) throws {
        if state.keepCaps && state.secureBits & Self.keepCapsLockedBit == 0 { try session.prctl(.setKeepCaps, 1) }
    }

    static let keepCapsBit: UInt64 = 1 << 4, keepCapsLockedBit: UInt64 = 1 << 5
}
