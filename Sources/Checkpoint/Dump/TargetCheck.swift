import CheckpointImage
import Glibc
import LinuxKit

/// Checks made before touching a target, each with BLCR's error code.
enum TargetCheck {
    static func verify(pid: pid_t, scope: CheckpointOptions.Scope) throws {
        guard pid > 0 else { throw CheckpointError(EINVAL, "invalid PID \(pid)") }
        guard let status = try? ProcStatus.read(pid: pid), let stat = try? ProcStat.read(pid: pid) else {
            throw CheckpointError(ESRCH, "no process with PID \(pid)")
        }
        if pid == getpid() { throw CheckpointError(EDEADLK, "a process cannot checkpoint itself with ptrace") }
        if stat.state == "Z" || stat.state == "X" { throw CheckpointError(ESRCH, "process \(pid) has already exited (zombie)") }
        if scope == .group && stat.pgrp != pid { throw CheckpointError(ESRCH, "process \(pid) does not lead a process group") }
        if scope == .session && stat.session != pid { throw CheckpointError(ESRCH, "process \(pid) does not lead a session") }
        let others: [pid_t]
        switch scope {
        case .process: others = []
        case .tree: others = children(of: pid)
        case .group: others = members { $0.pgrp == pid }.filter { $0 != pid }
        case .session: others = members { $0.session == pid }.filter { $0 != pid }
        }
        if !others.isEmpty {
            let list = others.prefix(5).map(String.init).joined(separator: ", ")
            throw CheckpointError(ENOTSUP, "process \(pid) has other processes in its scope (\(list)); process trees are not supported yet: use -p to checkpoint it alone")
        }
    }

    /// BLCR refuses a target that is ptraced (CR_EPTRACED) or ptraces others
    /// (CR_EPTRACER) unless told to skip it. "Allow" cannot be honoured here:
    /// a task has one tracer, and swiftcr's engine is one.
    static func verifyPtrace(pid: pid_t, ptraced: CheckpointOptions.PtracePolicy, ptracer: CheckpointOptions.PtracePolicy) throws {
        let threads = (try? Sys.numericEntries("/proc/\(pid)/task")) ?? [pid]
        let tracer = threads.lazy.compactMap { (try? ProcStatus.read(pid: $0))?.tracerPid }.first { $0 != 0 }
        if let t = tracer {
            switch ptraced {
            case .error: throw CheckpointError(BLCRCode.ptraced, "process \(pid) is being ptraced by \(t) (--ptraced-skip leaves it out)")
            case .skip: throw CheckpointError(BLCRCode.ptraced, "process \(pid) is ptraced by \(t) and skipped: nothing is left to checkpoint")
            case .allow: throw CheckpointError(BLCRCode.ptraced, "process \(pid) is ptraced by \(t); swiftcr checkpoints with ptrace, and a process has only one tracer")
            }
        }
        let tracees = members { _ in true }.filter { p in
            ((try? Sys.numericEntries("/proc/\(p)/task")) ?? []).contains { (try? ProcStatus.read(pid: $0))?.tracerPid.map(threads.contains) ?? false }
        }
        if !tracees.isEmpty {
            let list = tracees.prefix(5).map(String.init).joined(separator: ", ")
            switch ptracer {
            case .error, .allow: throw CheckpointError(BLCRCode.ptracer, "process \(pid) ptraces \(list) (--ptracer-skip leaves it out)")
            case .skip: throw CheckpointError(BLCRCode.ptracer, "process \(pid) ptraces \(list) and is skipped: nothing is left to checkpoint")
            }
        }
    }

    static func children(of pid: pid_t) -> [pid_t] {
        members { $0.ppid == pid }
    }

    static func members(where match: (ProcStat) -> Bool) -> [pid_t] {
        ((try? Sys.numericEntries("/proc")) ?? []).filter { p in (try? ProcStat.read(pid: p)).map(match) ?? false }
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
