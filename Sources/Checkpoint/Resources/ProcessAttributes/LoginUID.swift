import CheckpointImage
import Glibc
import LinuxKit

/// The audit login uid (/proc/PID/loginuid), which login sessions set and
/// children inherit. Only the task itself may write its own, and only with
/// CAP_AUDIT_CONTROL once one is set: the stub writes it (injected calls),
/// and a restorer without the right says so.
enum LoginUID: ProcessAttribute {
    static let unset = UInt32.max

    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws {
        state.loginUID = read(source.pid).flatMap { $0 == unset ? nil : $0 }
    }

    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> String? {
        guard let want = state.loginUID, read(session.pid) != want else { return nil }
        let opened = try session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), try session.putString("/proc/self/loginuid"), UInt64(O_WRONLY | O_CLOEXEC), 0)
        guard opened >= 0 else { return "login uid \(want) not restored: \(errorText(Int32(-opened)))" }
        defer { _ = try? session.close(UInt64(opened)) }
        let text = Array(String(want).utf8)
        let wrote = try session.raw(NR.write, UInt64(opened), try session.put(text, at: 64), UInt64(text.count))
        guard wrote == Int64(text.count) else { return "login uid \(want) not restored: \(errorText(wrote < 0 ? Int32(-wrote) : EIO))" }
        return nil
    }

    private static func read(_ pid: pid_t) -> UInt32? {
        (try? Sys.readText("/proc/\(pid)/loginuid")).flatMap { UInt32($0.split(separator: "\n").first ?? "") }
    }
}
