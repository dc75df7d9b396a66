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
    /// The signal of the group stop the process was in when seized (SIGSTOP, SIGTSTP...), if any.
    private(set) var stopSignal: Int32?
    private var attached = true

    init(pid: pid_t) { self.pid = pid }

    /// PTRACE_SEIZE + PTRACE_INTERRUPT every thread, rescanning /proc/PID/task
    /// until no new thread appears. PTRACE_O_TRACECLONE catches threads born
    /// while their creator is not yet stopped; threads that exit meanwhile are
    /// dropped (only the main thread exiting fails the freeze). A process
    /// with io_uring kernel threads is refused before they are touched.
    static func freeze(_ pid: pid_t, log: Logger) throws -> FrozenProcess {
        let frozen = FrozenProcess(pid: pid)
        do {
            var known: Set<pid_t> = []
            var pending: [pid_t] = []
            func gone(_ tid: pid_t, _ e: SystemCallError) throws {
                // A thread that has exited but is not yet reaped refuses PTRACE_SEIZE with EPERM.
                let exited = e.errno == .noSuchProcess || (e.errno == .notPermitted && threadHasExited(pid, tid))
                guard exited, tid != pid else { throw e }
                frozen.threads.removeAll { $0 == tid }
            }
            while true {
                let fresh = try taskIDs(pid).filter { !known.contains($0) }
                // io_uring's kernel threads never take a ptrace stop (the freeze would hang).
                // Looked for before this pass seizes anyone: every thread seized so far is stopped.
                for tid in fresh {
                    if let t = try? Sys.readFile("/proc/\(pid)/task/\(tid)/stat"), let stat = try? ProcStat(bytes: t), stat.isIOWorker {
                        throw IOURings.refusal(pid: pid, what: "thread \(tid) (\(stat.comm)) is an io_uring kernel thread")
                    }
                }
                for tid in fresh {
                    known.insert(tid)
                    do {
                        try seize(tid)
                        frozen.threads.append(tid)
                        try Ptrace.interrupt(tid)
                        pending.append(tid)
                    } catch let e as SystemCallError { try gone(tid, e) }
                }
                if pending.isEmpty { break }
                while let tid = pending.popLast() {
                    let stopped = try waitForStop(tid, adopt: { child in
                        known.insert(child)
                        frozen.threads.append(child)
                        pending.append(child)
                    }, groupStop: { sig in if tid == pid { frozen.stopSignal = sig } })
                    if !stopped {
                        guard tid != pid else { throw CheckpointError(ESRCH, "process \(pid) exited while being frozen") }
                        frozen.threads.removeAll { $0 == tid }
                    }
                }
            }
            for tid in frozen.threads {
                var regs = try Ptrace.registers(tid)
                // Inside an rseq critical section: where the kernel would resume it (RseqAbort).
                if let abort = RseqAbort.handler(tid, rip: regs.rip) { regs.rip = abort }
                frozen.originalRegisters[tid] = regs
                frozen.originalMasks[tid] = try Ptrace.signalMask(tid)
            }
            log.debug("froze \(pid): threads \(frozen.threads)")
            return frozen
        } catch {
            frozen.thaw(log: log)
            throw error
        }
    }

    /// With CAP_SYS_ADMIN, seccomp is suspended while we trace (the kernel
    /// lifts that with the trace, also if we die), so a filter or strict mode
    /// cannot kill the process for a system call we inject.
    static func seize(_ tid: pid_t) throws {
        let options = PtraceOption.traceSysGood | PtraceOption.traceClone
        if geteuid() == 0 {
            do { return try Ptrace.seize(tid, options: options | PtraceOption.suspendSeccomp) } catch let e as SystemCallError where e.errno == .notPermitted || e.errno == .invalidArgument {}
        }
        try Ptrace.seize(tid, options: options)
    }

    /// True if the thread is gone or has exited (zombie or dead state).
    static func threadHasExited(_ pid: pid_t, _ tid: pid_t) -> Bool {
        guard let text = try? Sys.readText("/proc/\(pid)/task/\(tid)/stat"), let close = text.lastIndex(of: ")") else { return true }
        let state = text[text.index(after: close)...].drop { $0 == " " }.first
        return state == "Z" || state == "X" || state == "x"
    }

    static func taskIDs(_ pid: pid_t) throws -> [pid_t] {
        do { return try Sys.numericEntries("/proc/\(pid)/task") } catch {
            throw CheckpointError(ESRCH, "no process with PID \(pid)")
        }
    }

    static func waitForStop(_ tid: pid_t) throws {
        guard try waitForStop(tid, adopt: { _ in }) else {
            throw CheckpointError(ESRCH, "process \(tid) exited while being stopped")
        }
    }

    /// Waits for the interrupt stop; false if the task exited first. A thread
    /// it creates meanwhile (clone event) is handed to `adopt`; a signal that
    /// arrives first is delivered as it would have been. Any other trap clears
    /// a pending PTRACE_INTERRUPT (kernel ptrace_stop), so it is armed again
    /// before the task is resumed.
    /// A task seized while in a group stop reports that stop with its signal
    /// (SIGSTOP, SIGTSTP...) instead of SIGTRAP: told to `groupStop`.
    static func waitForStop(_ tid: pid_t, adopt: (pid_t) -> Void, groupStop: (Int32) -> Void = { _ in }) throws -> Bool {
        while true {
            switch try Ptrace.wait(tid) {
            case .stopped(_, let sig, let event) where event == PtraceEvent.stop:
                if sig != SIGTRAP { groupStop(sig) }
                return true
            case .stopped(_, _, let event) where (1...3).contains(event):
                adopt(pid_t(truncatingIfNeeded: try Ptrace.eventMessage(tid)))
                try Ptrace.interrupt(tid)
                try Ptrace.cont(tid)
            case .stopped(_, let sig, _):
                try Ptrace.interrupt(tid)
                try Ptrace.cont(tid, signal: sig)
            case .syscallStop:
                try Ptrace.interrupt(tid)
                try Ptrace.cont(tid)
            case .exited, .killed:
                return false
            }
        }
    }

    /// After SIGKILL: nothing to put back, just let go of the dying threads.
    func releaseKilled() {
        guard attached else { return }
        attached = false
        for tid in threads { _ = try? Ptrace.detach(tid) }
    }

    /// Puts registers and masks back and detaches every thread. Never throws:
    /// it is also the failure path, and must release as much as it can.
    func thaw(log: Logger) {
        guard attached else { return }
        attached = false
        for tid in threads {
            // Mask before registers: a thread still parked on its InjectionFrame
            // puts both back itself if we die in between.
            if let mask = originalMasks[tid] {
                do { try Ptrace.setSignalMask(tid, mask) } catch { log.error("restoring signal mask of \(tid): \(error)") }
            }
            if modified.contains(tid), let regs = originalRegisters[tid] {
                let fixed = SyscallRestart.resume(regs, interruptingHandler: pendingHandlerCheck?(tid), canRestartBlock: true)
                do { try Ptrace.setRegisters(tid, fixed) } catch { log.error("restoring registers of \(tid): \(error)") }
            }
            do { try Ptrace.detach(tid) } catch {
                // A thread that died meanwhile (the process was killed) has nothing to let go.
                if let stat = try? ProcStat.read(pid: tid), stat.state != "Z" && stat.state != "X" {
                    log.error("detaching \(tid): \(error)")
                }
            }
        }
        for sig in heldSignals { kill(pid, sig) }
    }
}
