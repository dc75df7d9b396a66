import Glibc
import LinuxKit

/// A user's lazy restore: the kernel tells only CAP_SYS_PTRACE holders about
/// forks through a userfaultfd, and a child forked while pages are missing
/// would read zeros there. So the restorer stays the threads' tracer
/// (PTRACE_SEIZE's options: fork, vfork and clone events, kill on exit)
/// until every page is in, and gives each forked child the pages its parent
/// still waits for, while the child is held at its first stop. Signals
/// pass through as they come, group stops are kept (PTRACE_LISTEN). When
/// every page is in, the threads are interrupted and detached.
final class ForkTracer {
    /// Traced threads (as we see them), and what a process's exit status was when we reaped it.
    private var threads: Set<pid_t>
    private(set) var reaped: [pid_t: Int32] = [:]
    static let options = PtraceOption.traceFork | PtraceOption.traceVFork | PtraceOption.traceClone | PtraceOption.exitKill

    init(threads: [pid_t]) { self.threads = Set(threads) }

    /// Handles every stop that is waiting. `fill(parent, child)` gives a forked
    /// child (held stopped, with its own memory) the parent's missing pages.
    func poll(fill: (pid_t, pid_t) -> Void) {
        for tid in threads {
            var status: Int32 = 0
            let got = waitpid(tid, &status, WNOHANG | __WALL)
            guard got == tid else {
                if got < 0 && errno == ECHILD { threads.remove(tid) }
                continue
            }
            handle(tid, status, fill: fill)
        }
    }

    private func handle(_ tid: pid_t, _ status: Int32, fill: (pid_t, pid_t) -> Void) {
        if status & 0x7f != 0x7f {  // exited or killed
            threads.remove(tid)
            reaped[tid] = status
            return
        }
        let signal = (status >> 8) & 0xff, event = status >> 16
        switch event {
        case PtraceEvent.fork, PtraceEvent.vfork, PtraceEvent.clone:
            if let message = try? Ptrace.eventMessage(tid) {
                let child = pid_t(truncatingIfNeeded: message)
                adopt(child, of: tid, sharesMemory: event == PtraceEvent.vfork || Self.sameMemory(tid, child), fill: fill)
            }
            try? Ptrace.cont(tid)
        case PtraceEvent.stop:
            // A group stop stays one; any other event stop (a new thread's first) goes on.
            if [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU].contains(signal) { try? Ptrace.listen(tid) } else { try? Ptrace.cont(tid) }
        default:
            try? Ptrace.cont(tid, signal: signal)  // a signal on its way: delivered
        }
    }

    /// A new thread is traced on; a new process gets its pages and goes free.
    private func adopt(_ child: pid_t, of parent: pid_t, sharesMemory: Bool, fill: (pid_t, pid_t) -> Void) {
        var status: Int32 = 0
        _ = waitpid(child, &status, __WALL)  // its first stop
        if Self.sameThreadGroup(parent, child) {
            threads.insert(child)
            try? Ptrace.cont(child)
            return
        }
        if !sharesMemory { fill(parent, child) }
        try? Ptrace.detach(child)
    }

    /// Every page is in: each thread is stopped and let go.
    func detachAll(fill: (pid_t, pid_t) -> Void) {
        while !threads.isEmpty {
            // Again each round: a thread born meanwhile (a clone event) runs until told.
            for tid in threads { try? Ptrace.interrupt(tid) }
            for tid in threads {
                var status: Int32 = 0
                let got = waitpid(tid, &status, __WALL)
                if got != tid { threads.remove(tid); continue }
                if status & 0x7f != 0x7f { threads.remove(tid); reaped[tid] = status; continue }
                if status >> 16 == PtraceEvent.stop {
                    try? Ptrace.detach(tid)  // (one in a group stop stays stopped)
                    threads.remove(tid)
                } else {
                    // Something else came first (a fork, a signal): handle it; the next round asks again.
                    handle(tid, status, fill: fill)
                }
            }
        }
    }

    static func sameThreadGroup(_ a: pid_t, _ b: pid_t) -> Bool {
        guard let ta = try? ProcStatus.read(pid: a).fields["Tgid"], let tb = try? ProcStatus.read(pid: b).fields["Tgid"] else { return false }
        return ta == tb
    }

    /// clone() with CLONE_VM (not a thread): one memory, whose faults reach the same userfaultfd (kcmp KCMP_VM).
    static func sameMemory(_ a: pid_t, _ b: pid_t) -> Bool {
        Syscall.raw(NR.kcmp, Int(a), Int(b), 1 /* KCMP_VM */, 0, 0) == 0
    }
}
