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
///
/// A user's userfaultfd (UFFD_USER_MODE_ONLY) serves only the program's own
/// faults: a system call that touches a missing page (write(2) from it,
/// read(2) into it) fails with EFAULT instead of waiting. So the threads
/// stop at each system call's exit too, and a call that failed with EFAULT
/// while its process still waited for pages is issued again once all of
/// them are in and its userfaultfd is closed (`refill`: a page never
/// touched before the checkpoint is in no section, and only the kernel may
/// fill it); a second EFAULT is the program's own. A signal the process
/// catches does the same before it is delivered: the kernel writes the
/// handler's frame (on an alternate stack never touched, perhaps).
final class ForkTracer {
    /// Traced threads (as we see them), and what a process's exit status was when we reaped it.
    private var threads: Set<pid_t>
    private(set) var reaped: [pid_t: Int32] = [:]
    static let options = PtraceOption.traceFork | PtraceOption.traceVFork | PtraceOption.traceClone | PtraceOption.exitKill | PtraceOption.traceSysGood

    init(threads: [pid_t]) { self.threads = Set(threads) }

    /// What the tracer asks of the pager: `fill(parent, child)` gives a forked
    /// child (held stopped, with its own memory) the parent's missing pages;
    /// `refill(thread)` puts in every page the thread's process still waits
    /// for, and says whether there was any.
    struct Pager {
        var fill: (pid_t, pid_t) -> Void
        var refill: (pid_t) -> Bool
    }

    /// Handles every stop that is waiting.
    func poll(_ pager: Pager) {
        for tid in threads {
            var status: Int32 = 0
            let got = waitpid(tid, &status, WNOHANG | __WALL)
            guard got == tid else {
                if got < 0 && errno == ECHILD { threads.remove(tid) }
                continue
            }
            handle(tid, status, pager)
        }
    }

    private func handle(_ tid: pid_t, _ status: Int32, _ pager: Pager) {
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
                adopt(child, of: tid, sharesMemory: event == PtraceEvent.vfork || Self.sameMemory(tid, child), pager)
            }
            try? Ptrace.toSyscall(tid)
        case PtraceEvent.stop:
            // A group stop stays one; any other event stop (a new thread's first) goes on.
            if [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU].contains(signal) { try? Ptrace.listen(tid) } else { try? Ptrace.toSyscall(tid) }
        case 0 where signal == SIGTRAP | 0x80:
            if (try? Ptrace.syscallExitValue(tid)) == -Int64(EFAULT), pager.refill(tid) { Self.issueAgain(tid) }
            try? Ptrace.toSyscall(tid)
        default:
            // A signal on its way, delivered; the kernel writes a handler's frame
            // itself (a page it cannot fill makes it SIGSEGV): the process's
            // memory is made whole and unregistered first.
            if Self.hasHandler(tid, for: signal) { _ = pager.refill(tid) }
            try? Ptrace.toSyscall(tid, signal: signal)
        }
    }

    /// Whether the thread's process catches `signal` (SigCgt of its status).
    static func hasHandler(_ tid: pid_t, for signal: Int32) -> Bool {
        guard signal > 0, signal <= 64, let text = try? ProcStatus.read(pid: tid).fields["SigCgt"], let mask = UInt64(text, radix: 16) else { return false }
        return mask & (1 << UInt64(signal - 1)) != 0
    }

    /// At a syscall-exit stop: the call is made again when the thread goes
    /// on (its arguments are still in their registers; `syscall` is 2 bytes).
    static func issueAgain(_ tid: pid_t) {
        guard var regs = try? Ptrace.registers(tid) else { return }
        regs.rax = regs.orig_rax
        regs.rip &-= 2
        try? Ptrace.setRegisters(tid, regs)
    }

    /// A new thread is traced on; a new process gets its pages and goes free.
    private func adopt(_ child: pid_t, of parent: pid_t, sharesMemory: Bool, _ pager: Pager) {
        var status: Int32 = 0
        _ = waitpid(child, &status, __WALL)  // its first stop
        if Self.sameThreadGroup(parent, child) {
            threads.insert(child)
            try? Ptrace.toSyscall(child)
            return
        }
        if !sharesMemory { pager.fill(parent, child) }
        try? Ptrace.detach(child)
    }

    /// Every page is in: each thread is stopped and let go. No wait here
    /// blocks on one thread: a process that died has its leader reported
    /// only after its other threads are reaped, whatever their order.
    func detachAll(_ pager: Pager) {
        var asked = Set<pid_t>()
        while !threads.isEmpty {
            // A thread born meanwhile (a clone event), or sent on with a signal, is asked again.
            for tid in threads where !asked.contains(tid) { try? Ptrace.interrupt(tid); asked.insert(tid) }
            var moved = false
            for tid in threads {
                var status: Int32 = 0
                let got = waitpid(tid, &status, WNOHANG | __WALL)
                if got == 0 { continue }
                moved = true
                if got != tid { threads.remove(tid); continue }
                if status & 0x7f != 0x7f { threads.remove(tid); reaped[tid] = status; continue }
                if status >> 16 == PtraceEvent.stop {
                    try? Ptrace.detach(tid)  // (one in a group stop stays stopped)
                    threads.remove(tid)
                } else {
                    // Something else came first (a fork, a signal, a system call): handled, then asked again.
                    handle(tid, status, pager)
                    asked.remove(tid)
                }
            }
            if !moved { usleep(200) }
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
