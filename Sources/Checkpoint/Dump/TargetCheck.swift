import CheckpointImage
import Glibc
import LinuxKit

/// Checks made before touching a target, each with BLCR's error code.
enum TargetCheck {
    /// The target of a process or tree checkpoint must exist and be alive;
    /// a group or session is found by its members (its leader may be gone).
    static func verify(pid: pid_t, scope: CheckpointOptions.Scope) throws {
        guard pid > 0 else { throw CheckpointError(EINVAL, "invalid ID \(pid)") }
        guard scope == .process || scope == .tree else { return }
        guard let stat = try? ProcStat.read(pid: pid) else { throw CheckpointError(ESRCH, "no process with PID \(pid)") }
        if pid == getpid() { throw CheckpointError(EDEADLK, "a process cannot checkpoint itself with ptrace") }
        if (stat.state == "Z" || stat.state == "X") && stat.threads > 1 { throw leaderGone(pid) }
        if stat.state == "Z" || stat.state == "X" { throw CheckpointError(ESRCH, "process \(pid) has already exited (zombie)") }
    }

    /// A process whose main thread exited while others run looks like a
    /// zombie from its leader, yet lives on: saved as a zombie, its running
    /// threads would be lost (and left running by --kill). Not supported.
    static func leaderGone(_ pid: pid_t) -> CheckpointError {
        CheckpointError(ENOTSUP, "process \(pid): its main thread has exited while its other threads run; swiftcr cannot save a process whose leader is gone")
    }

    /// Who traces whom, from one scan of every task's TracerPid.
    struct TraceMap {
        /// task -> its tracer (non-zero entries only)
        var tracerOf: [pid_t: pid_t] = [:]

        static func scan() -> TraceMap {
            var m = TraceMap()
            for p in (try? Sys.numericEntries("/proc")) ?? [] {
                for t in (try? Sys.numericEntries("/proc/\(p)/task")) ?? [] {
                    if let tracer = ProcStatus.tracerPid(of: t), tracer != 0 { m.tracerOf[t] = tracer }
                }
            }
            return m
        }
    }

    /// BLCR refuses a target that is ptraced (CR_EPTRACED) or ptraces others
    /// (CR_EPTRACER) unless told to skip it. "Allow" cannot be honoured here:
    /// a task has one tracer, and swiftcr's engine is one.
    /// Returns true when the process is to be left out (a skip policy).
    static func skipForPtrace(pid: pid_t, traces: TraceMap, ptraced: CheckpointOptions.PtracePolicy, ptracer: CheckpointOptions.PtracePolicy) throws -> Bool {
        let threads = Set((try? Sys.numericEntries("/proc/\(pid)/task")) ?? [pid])
        if let t = threads.lazy.compactMap({ traces.tracerOf[$0] }).first {
            switch ptraced {
            case .error: throw CheckpointError(BLCRCode.ptraced, "process \(pid) is being ptraced by \(t) (--ptraced-skip leaves it out)")
            case .skip: return true
            case .allow: throw CheckpointError(BLCRCode.ptraced, "process \(pid) is ptraced by \(t); swiftcr checkpoints with ptrace, and a process has only one tracer")
            }
        }
        let tracees = traces.tracerOf.filter { threads.contains($0.value) }.map(\.key).sorted()
        if !tracees.isEmpty {
            let list = tracees.prefix(5).map(String.init).joined(separator: ", ")
            switch ptracer {
            case .error, .allow: throw CheckpointError(BLCRCode.ptracer, "process \(pid) ptraces \(list) (--ptracer-skip leaves it out)")
            case .skip: return true
            }
        }
        return false
    }

    static func explainFreezeFailure(pid: pid_t, _ e: SystemCallError) -> CheckpointError {
        switch e.errno {
        case .notPermitted:
            var owner = ""
            var st = stat()
            if stat("/proc/\(pid)", &st) == 0 { owner = " (owned by uid \(st.st_uid))" }
            return CheckpointError(EPERM, "not permitted to checkpoint process \(pid)\(owner): \(e)")
        case .noSuchProcess:
            return CheckpointError(ESRCH, "no process with PID \(pid)")
        default:
            return CheckpointError(e.errno.rawValue, "cannot freeze process \(pid): \(e)")
        }
    }
}
