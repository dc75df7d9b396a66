import CheckpointImage
import Glibc
import LinuxKit

/// Installs a thread's seccomp filters again, oldest first, as the last
/// system calls of its restore: from then on they judge every call the
/// thread makes, the restorer's included. Installing needs no_new_privs
/// (restored before) or CAP_SYS_ADMIN, as it did for the original.
enum SeccompRestorer {
    /// Strict mode: only a stub seized with PTRACE_O_SUSPEND_SECCOMP (root)
    /// may take further injected calls after it; otherwise it is said, not set.
    static func enterStrictMode(in session: RemoteSession, suspended: Bool) throws -> String? {
        guard suspended else {
            return "thread \(session.pid) ran in seccomp strict mode, which only root can restore: it runs without it"
        }
        try session.prctl(.setSeccomp, 1)  // SECCOMP_MODE_STRICT
        return nil
    }

    static func install(_ filters: [[UInt8]], in session: RemoteSession) throws {
        for (k, filter) in filters.enumerated() {
            let flags = filter.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            let program = Array(filter.dropFirst(8))
            let at = try session.put(program, at: 64)
            // struct sock_fprog: u16 instruction count, padding, pointer.
            let header = withUnsafeBytes(of: UInt16(program.count / 8).littleEndian) { Array($0) } + [UInt8](repeating: 0, count: 6)
                + withUnsafeBytes(of: at.littleEndian) { Array($0) }
            let fprog = try session.put(header, at: 0)
            let r = try session.raw(NR.seccomp, 1, flags, fprog)  // SECCOMP_SET_MODE_FILTER
            guard r >= 0 else {
                throw CheckpointError(errno: Int32(-r), "thread \(session.pid): cannot install seccomp filter \(k + 1) of \(filters.count) again")
            }
        }
    }
}
