import Glibc

/// Keeps a restart alive when the image file it has mapped shrinks under it
/// (another program truncating or rewriting it). Reading a mapped page past
/// the file's new end raises SIGBUS, which would kill the restorer with
/// half a process made. While windows are watched, a SIGBUS handler puts a
/// page of zeros over such a page, marks its window, and lets the read go
/// on; the window's reader then fails with a one-line error (`hit`). A
/// fault outside every window gets the action there was before (put back,
/// the access repeats under it). Copies the kernel makes from a window
/// (UFFDIO_COPY) get EFAULT, not a signal. A SIGBUS sent by a process
/// is left to that action too. The handler allocates nothing and calls
/// only mmap, sigaction and raise.
enum MappedImageGuard {
    static let slots = 16
    /// Per slot: the window's start and end, and whether a page of it was missing.
    nonisolated(unsafe) private static let table: UnsafeMutablePointer<UInt> = {
        let t = UnsafeMutablePointer<UInt>.allocate(capacity: slots * 3)
        t.initialize(repeating: 0, count: slots * 3)
        return t
    }()
    nonisolated(unsafe) private static let previous: UnsafeMutablePointer<sigaction> = {
        let p = UnsafeMutablePointer<sigaction>.allocate(capacity: 1)
        p.initialize(to: sigaction())
        return p
    }()
    nonisolated(unsafe) private static var installed = false

    /// Puts the handler in place (the restorer's thread, before any window).
    static func install() -> Bool {
        // Made now: the handler must find them made (their first use takes a lock).
        _ = table
        _ = previous
        _ = slots
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = handler
        action.sa_flags = SA_SIGINFO
        sigemptyset(&action.sa_mask)
        guard sigaction(SIGBUS, &action, previous) == 0 else { return false }
        installed = true
        return true
    }

    /// Puts back the action there was (after every window is gone).
    static func remove() {
        guard installed else { return }
        sigaction(SIGBUS, previous, nil)
        installed = false
    }

    /// Watches [base, base + length) for `slot` (one per worker thread).
    static func watch(slot: Int, base: UnsafeRawPointer, length: Int) {
        let start = UInt(bitPattern: base)
        table[slot * 3 + 2] = 0
        table[slot * 3 + 1] = start + UInt(length)
        table[slot * 3] = start
    }

    /// Stops watching `slot`'s window; true when a page of it was past the file's end.
    static func unwatch(slot: Int) -> Bool {
        table[slot * 3] = 0
        table[slot * 3 + 1] = 0
        return table[slot * 3 + 2] != 0
    }

    private static let handler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = { _, info, _ in
        guard let info else { return }
        // Sent by a process (kill, tgkill, sigqueue: si_code <= 0), not a
        // fault: its "address" is the sender's ID. It gets the action from
        // before, as if the guard were not there (blocked in here, it is
        // delivered as the handler returns).
        if info.pointee.si_code <= 0 {
            sigaction(SIGBUS, MappedImageGuard.previous, nil)
            raise(SIGBUS)
            return
        }
        let address = UInt(bitPattern: info.pointee._sifields._sigfault.si_addr)
        for k in 0..<MappedImageGuard.slots {
            let t = MappedImageGuard.table
            guard address >= t[k * 3], address < t[k * 3 + 1] else { continue }
            let page = UnsafeMutableRawPointer(bitPattern: address & ~UInt(4095))
            let zeros = mmap(page, 4096, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if zeros != MAP_FAILED {
                t[k * 3 + 2] = 1
                return
            }
            break
        }
        // Not a window's (or no page could be put there): the action from before.
        sigaction(SIGBUS, MappedImageGuard.previous, nil)
    }
}
