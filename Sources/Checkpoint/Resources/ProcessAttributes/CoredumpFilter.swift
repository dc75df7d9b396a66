import CheckpointImage
import Glibc
import LinuxKit

/// /proc/PID/coredump_filter: which mappings a core dump holds (inherited
/// by children; set by databases and HPC jobs to keep or drop shared memory).
/// Read and written from outside, as the process's owner or root.
enum CoredumpFilter: ProcessAttribute {
    static func collect(_ source: AttributeSource, into state: inout ProcessState) throws {
        let text = (try? Sys.readText("/proc/\(source.pid)/coredump_filter")) ?? ""
        state.coredumpFilter = UInt64(text.filter(\.isHexDigit), radix: 16)
    }

    static func restore(_ state: ProcessState, in session: RemoteSession) throws -> String? {
        guard let filter = state.coredumpFilter else { return nil }
        let fd = open("/proc/\(session.pid)/coredump_filter", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return "core dump filter 0x\(String(filter, radix: 16)) not restored: \(errorText(errno))" }
        defer { close(fd) }
        let text = Array("0x\(String(filter, radix: 16))".utf8)
        guard text.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == text.count else {
            return "core dump filter 0x\(String(filter, radix: 16)) not restored: \(errorText(errno))"
        }
        return nil
    }
}
