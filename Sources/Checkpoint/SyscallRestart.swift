import LinuxKit

/// What a thread stopped inside a system call must see when it runs again.
/// The kernel applies these rules itself only on its signal path, which a
/// thread resumed by us does not take, so we apply them to the registers.
/// A signal about to be delivered to a handler; whether it has SA_RESTART.
struct PendingHandler { var restarts: Bool }

enum SyscallRestart {
    /// - Parameter interruptingHandler: a signal will be delivered right away to a
    ///   handler; `restarts` tells whether that handler has SA_RESTART.
    /// - Parameter canRestartBlock: the kernel still holds the restart block
    ///   (the live process, not a restored one).
    static func resume(_ regs: Registers, interruptingHandler: PendingHandler?, canRestartBlock: Bool) -> Registers {
        var r = regs
        guard Int64(bitPattern: r.orig_rax) >= 0 else { return r }
        let result = 0 &- Int64(bitPattern: r.rax)  // registers may come from an image: no traps
        let eintr = UInt64(bitPattern: -4)
        func restart(_ nr: UInt64) {
            r.rax = nr
            r.rip &-= 2
        }
        switch result {
        case RestartErrno.restartNoIntr:
            restart(r.orig_rax)
        case RestartErrno.restartSys:
            if let h = interruptingHandler, !h.restarts { r.rax = eintr } else { restart(r.orig_rax) }
        case RestartErrno.restartNoHand:
            if interruptingHandler != nil { r.rax = eintr } else { restart(r.orig_rax) }
        case RestartErrno.restartRestartBlock:
            // The restart block (remaining sleep time...) lives in the kernel; a
            // restored process has none. poll() is issued again with its own
            // arguments, still in rdi/rsi/rdx (a timeout starts over: waiting
            // longer beats an EINTR that programs like tail -f treat as fatal);
            // the rest see EINTR as under CRIU (nanosleep with the time left).
            if interruptingHandler != nil {
                r.rax = eintr
            } else if canRestartBlock {
                restart(UInt64(NR.restart_syscall))
            } else if r.orig_rax == UInt64(NR.poll) {
                restart(r.orig_rax)
            } else {
                r.rax = eintr
            }
        default:
            // The call is done: nothing to redo, and the thread still shows
            // it (/proc/PID/syscall; the next checkpoint trusts rip - 2).
            return r
        }
        r.orig_rax = UInt64.max
        return r
    }

    /// The first pending, unblocked signal that has a handler, if any.
    static func interruptingHandler(pending: UInt64, blocked: UInt64, actions: [Int32: (handler: UInt64, flags: UInt64)]) -> PendingHandler? {
        let deliverable = pending & ~blocked
        guard deliverable != 0 else { return nil }
        for sig in 1...64 where deliverable & (UInt64(1) << UInt64(sig - 1)) != 0 {
            guard let a = actions[Int32(sig)], a.handler > 1 else { continue }  // SIG_DFL=0, SIG_IGN=1
            return PendingHandler(restarts: (a.flags & 0x1000_0000) != 0)  // SA_RESTART
        }
        return nil
    }
}
