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

    /// Every thread of one process. Filters are inherited objects, not
    /// copies: threads that share them must share them again, or a later
    /// SECCOMP_FILTER_FLAG_TSYNC fails (the kernel only syncs threads whose
    /// filter is an ancestor of the caller's). The kernel cannot say which
    /// are shared, so the chain every thread starts with (as CRIU does, taking
    /// equal for shared) goes in once, from the first thread, with TSYNC;
    /// each thread then adds its own rest.
    static func installAll(_ threads: [(filters: [[UInt8]], session: RemoteSession)]) throws {
        guard let first = threads.first else { return }
        let common = threads.dropFirst().reduce(first.filters.count) { n, t in
            zip(first.filters.prefix(n), t.filters).prefix { $0 == $1 }.count
        }
        if common > 0 { try install(Array(first.filters.prefix(common)), in: first.session, extraFlags: threads.count > 1 ? 1 : 0) }
        for t in threads where t.filters.count > common { try install(Array(t.filters.dropFirst(common)), in: t.session) }
    }

    static func install(_ filters: [[UInt8]], in session: RemoteSession, extraFlags: UInt64 = 0) throws {
        for (k, filter) in filters.enumerated() {
            let flags = extraFlags | filter.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            let program = Array(filter.dropFirst(8))
            let at = try session.put(program, at: 64)
            // struct sock_fprog: u16 instruction count, padding, pointer.
            let header = withUnsafeBytes(of: UInt16(program.count / 8).littleEndian) { Array($0) } + [UInt8](repeating: 0, count: 6)
                + withUnsafeBytes(of: at.littleEndian) { Array($0) }
            let fprog = try session.put(header, at: 0)
            let r = try session.raw(NR.seccomp, 1, flags, fprog)  // SECCOMP_SET_MODE_FILTER
            guard r == 0 else {
                // TSYNC names a thread it could not sync with a positive tid.
                if r > 0 { throw CheckpointError(EBUSY, "thread \(session.pid): seccomp filter \(k + 1) of \(filters.count) could not be shared with thread \(r)") }
                throw CheckpointError(errno: Int32(-r), "thread \(session.pid): cannot install seccomp filter \(k + 1) of \(filters.count) again")
            }
        }
    }
}
