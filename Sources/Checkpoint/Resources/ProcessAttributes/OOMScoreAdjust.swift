import CheckpointImage
import Glibc
import LinuxKit

/// /proc/PID/oom_score_adj, read and written from outside. Lowering it
/// below the restorer's own needs CAP_SYS_RESOURCE, so that may be refused.
enum OOMScoreAdjust: ProcessAttribute {
    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws {
        state.oomScoreAdj = (try? Sys.readText("/proc/\(source.pid)/oom_score_adj")).flatMap { Int64($0.split(separator: "\n").first ?? "") }
    }

    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> String? {
        guard let value = state.oomScoreAdj else { return nil }
        let path = "/proc/\(session.pid)/oom_score_adj"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return "oom_score_adj \(value) not restored: \(errorText(errno))" }
        defer { close(fd) }
        let text = Array(String(value).utf8)
        guard text.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == text.count else {
            return "oom_score_adj \(value) not restored: \(errorText(errno))"
        }
        return nil
    }
}
