import CLinux
import Glibc
import LinuxKit
import Logging

/// A process whose threads are all in a ptrace stop. `thaw()` lets it go
/// exactly as it was (registers and signal mask put back first).
final class FrozenProcess {
    let pid: pid_t
    private(set) var threads: [pid_t] = []
    /// Registers and mask as found, to put back on thaw.
    var originalRegisters: [pid_t: Registers] = [:]
    var originalMasks: [pid_t: UInt64] = [:]
    /// Threads whose registers were changed (by injection) and need a restart fixup.
    var modified: Set<pid_t> = []
    /// Signals held back during injection, re-sent on thaw.
    var heldSignals: [Int32] = []
    var pendingHandlerCheck: ((pid_t) -> PendingHandler?)?
    private var attached = true

    init(pid: pid_t) { self.pid = pid }

    /// PTRACE_SEIZE + PTRACE_INTERRUPT every thread, rescanning /proc/PID/task
    /// until no new thread appears (threads may be created while freezing).
    static func freeze(_ pid: pid_t, log: Logger) throws -> FrozenProcess {
        let frozen = FrozenProcess(pid: pid)
        do {
            var seen: Set<pid_t> = []
            while true {
                let tids = try taskIDs(pid)
                let fresh = tids.filter { !seen.contains($0) }
                if fresh.isEmpty { break }
                for tid in fresh {
                    seen.insert(tid)
                    do {
                        try Ptrace.seize(tid, options: Int(CL_PTRACE_O_TRACESYSGOOD))
                    } catch let e as SystemCallError where e.errno == .noSuchProcess && tid != pid {
                        continue  // the thread exited meanwhile
                    }
                    frozen.threads.append(tid)
                    try Ptrace.interrupt(tid)
                }
            }
            for tid in frozen.threads {
                try waitForStop(tid)
                frozen.originalRegisters[tid] = try Ptrace.registers(tid)
                frozen.originalMasks[tid] = try Ptrace.signalMask(tid)
            }
            log.debug("froze \(pid): threads \(frozen.threads)")
            return frozen
        } catch {
            frozen.thaw(log: log)
            throw error
        }
    }

    static func taskIDs(_ pid: pid_t) throws -> [pid_t] {
        do { return try Sys.numericEntries("/proc/\(pid)/task") } catch {
            throw CheckpointError(ESRCH, "no process with PID \(pid)")
        }
    }

    static func waitForStop(_ tid: pid_t) throws {
        while true {
            switch try Ptrace.wait(tid) {
            case .stopped(_, _, let event) where event == Int32(CL_PTRACE_EVENT_STOP):
                return
            case .stopped(_, let sig, _):
                // A signal arrived before our interrupt: keep it pending for later
                // and wait for the interrupt stop.
                try Ptrace.cont(tid, signal: sig)
            case .syscallStop:
                try Ptrace.cont(tid)
            case .exited(_, let code):
                throw CheckpointError(ESRCH, "process \(tid) exited (status \(code)) while being frozen")
            case .killed(_, let sig):
                throw CheckpointError(ESRCH, "process \(tid) was killed by signal \(sig) while being frozen")
            }
        }
    }

    /// Puts registers and masks back and detaches every thread. Never throws:
    /// it is also the failure path, and must release as much as it can.
    func thaw(log: Logger) {
        guard attached else { return }
        attached = false
        for tid in threads {
            if modified.contains(tid), let regs = originalRegisters[tid] {
                let fixed = SyscallRestart.resume(regs, interruptingHandler: pendingHandlerCheck?(tid), canRestartBlock: true)
                do { try Ptrace.setRegisters(tid, fixed) } catch { log.error("restoring registers of \(tid): \(error)") }
            }
            if let mask = originalMasks[tid] {
                do { try Ptrace.setSignalMask(tid, mask) } catch { log.error("restoring signal mask of \(tid): \(error)") }
            }
            do { try Ptrace.detach(tid) } catch { log.error("detaching \(tid): \(error)") }
        }
        for sig in heldSignals { kill(pid, sig) }
    }
}
