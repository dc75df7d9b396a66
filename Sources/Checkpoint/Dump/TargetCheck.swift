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
        if let tracer = status.tracerPid, tracer != 0 {
            throw CheckpointError(BLCRCode.ptraced, "process \(pid) is being ptraced by \(tracer)")
        }
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
