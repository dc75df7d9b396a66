import CheckpointImage
import Glibc
import LinuxKit

/// membarrier(2) registrations. MEMBARRIER_CMD_GET_REGISTRATIONS (Linux
/// 6.3+) issued in the process lists them; before it, issuing each
/// private-expedited command tells (0 if registered, EPERM if not), which
/// misses the global-expedited one. The restart registers each again.
enum MembarrierRegistration: ProcessAttribute {
    static let getRegistrations: UInt64 = 512
    /// (command that answers, the REGISTER command that enables it).
    static let commands: [(query: UInt64, register: UInt64)] = [(8, 16), (32, 64), (128, 256)]
    static let registerGlobalExpedited: UInt64 = 4

    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws {
        let listed = try source.session.raw(NR.membarrier, getRegistrations, 0, 0)
        if listed >= 0 {
            state.membarrierRegistrations = UInt64(listed) & ProcessState.membarrierKnown
            return
        }
        for c in commands where try source.session.raw(NR.membarrier, c.query, 0, 0) == 0 {
            state.membarrierRegistrations |= c.register
        }
    }

    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> String? {
        var failed: [String] = []
        let all = [registerGlobalExpedited] + commands.map(\.register)
        for register in all where state.membarrierRegistrations & register != 0 {
            let r = try session.raw(NR.membarrier, register, 0, 0)
            if r < 0 { failed.append("\(register) (\(errorText(Int32(-r))))") }
        }
        return failed.isEmpty ? nil : "membarrier registration \(failed.joined(separator: ", ")) not restored"
    }
}
