import CheckpointImage
import Glibc
import LinuxKit

/// A process-wide attribute, the process-level counterpart of FileKind:
/// read at checkpoint time while the process is frozen (by calls injected
/// into its main thread, which has scratch memory, or from /proc), and set
/// again at restart in the environment stage, before the credentials drop.
/// Each lives in this folder and is listed once in `ProcessAttributes.all`.
protocol ProcessAttribute: Sendable {
    /// Reads the attribute into `state`.
    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws
    /// Sets it again; a warning when the restorer may not (said, not fatal).
    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> String?
}

/// The frozen process an attribute is read from.
struct AttributeSource {
    let pid: pid_t
    /// Injected calls in the main thread; `scratch` is an 8-byte slot of its scratch memory for results.
    let session: RemoteSession
    var scratch: UInt64 { session.scratch + UInt64(TaskStateCollector.Slot.attribute) }
}

enum ProcessAttributes {
    static let all: [any ProcessAttribute.Type] = [
        THPDisable.self,
        OOMScoreAdjust.self,
        ChildSubreaper.self,
        MembarrierRegistration.self,
        KeepCaps.self,
        LoginUID.self,
        CoredumpFilter.self,
        // Last: once set, no mapping may gain execute.
        MemoryDenyWriteExecute.self,
    ]

    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws {
        for a in all { try a.collect(source, into: &state) }
    }

    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> [String] {
        try all.compactMap { try $0.restore(state, in: session) }
    }
}
