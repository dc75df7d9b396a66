import CheckpointImage
import Glibc
import LinuxKit

/// State only the process itself can tell: read by system calls injected into
/// its stopped threads, through scratch memory under each one's InjectionFrame.
enum TaskStateCollector {
    struct ProcessPart {
        var actions: [ProcessState.SignalAction] = []
        var brk: UInt64 = 0
        var dumpable: UInt64 = 1
        var personality: UInt64 = 0
    }

    struct ThreadPart {
        var altStack = ThreadState.AltStack(base: 0, flags: 2, size: 0)
        var tidAddress: UInt64 = 0
        var timerSlackNanos: UInt64 = 0
        var parentDeathSignal: UInt64 = 0
        var memoryPolicy: MemoryPolicy?
    }

    static let scratchSize = InjectionFrame.scratchSize
    /// Offsets in a session's scratch memory, kept small: on the stack it comes
    /// on top of the signal frame, and a thread must not need more room below
    /// its stack pointer than a signal delivery takes.
    enum Slot {
        static let action = 0           // one kernel sigaction, 32 bytes, read back each time
        static let altStack = 32        // stack_t
        static let tidAddress = 64      // u64
        static let deathSignal = 72     // int
        static let attribute = 80       // u64, for ProcessAttribute results
        static let timerValue = 96      // itimerval / itimerspec, 32 bytes
        static let policyMode = 128     // int, get_mempolicy's mode
        static let policyNodes = 136    // its node mask, 15 words (960 nodes) to the end
    }

    /// Sessions armed with an InjectionFrame already have scratch memory on
    /// their own stack. Only if one has not is a scratch mapping made through
    /// `main` (and removed after): the fallback, which a killed checkpointer
    /// would leave behind.
    static func withScratch<T>(main: RemoteSession, others: [RemoteSession], _ body: () throws -> T) throws -> T {
        let lacking = ([main] + others).filter { $0.scratch == 0 }
        guard !lacking.isEmpty else { return try body() }
        let at = try main.mmap(0, UInt64(scratchSize), protection: UInt64(PROT_READ | PROT_WRITE), flags: UInt64(MAP_PRIVATE | MAP_ANONYMOUS), what: "scratch")
        for s in lacking {
            s.scratch = at
            s.scratchSize = scratchSize
        }
        defer {
            _ = try? main.munmap(at, UInt64(scratchSize), what: "scratch")
            for s in lacking { s.scratch = 0 }
        }
        return try body()
    }

    /// Process-wide: signal actions, brk, dumpable, personality. (The
    /// parent-death signal is per thread: the process's is its main thread's, read by `thread`.)
    static func process(_ session: RemoteSession) throws -> ProcessPart {
        var r = ProcessPart()
        let s = session.scratch
        for sig in 1...64 {
            try session.call("rt_sigaction(\(sig))", NR.rt_sigaction, UInt64(sig), 0, s + UInt64(Slot.action), 8)
            let a = try session.get(KernelSigaction.self, at: Slot.action)
            r.actions.append(.init(signal: Int32(sig), handler: a.handler, flags: a.flags, restorer: a.restorer, mask: a.mask))
        }
        r.brk = try session.call("brk(0)", NR.brk, 0)
        r.dumpable = try session.prctl(.getDumpable)
        r.personality = try session.call("personality", NR.personality, 0xffff_ffff)
        return r
    }

    /// Interval timers (getitimer) and the setting of each POSIX timer listed
    /// in /proc/PID/timers (timer_gettime), read from inside the process.
    static func timers(_ session: RemoteSession, listed: [ProcTimer]) throws -> (IntervalTimers, [PosixTimer]) {
        let s = session.scratch + UInt64(Slot.timerValue)
        var itimers: [UInt64] = []
        for which in 0..<3 {
            try session.call("getitimer(\(which))", NR.getitimer, UInt64(which), s)
            let v = try session.memory.read(address: s, count: 32)
            itimers += (0..<4).map { k in v.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: k * 8, as: UInt64.self) } }
        }
        var posix: [PosixTimer] = []
        for t in listed {
            try session.call("timer_gettime(\(t.id))", NR.timer_gettime, UInt64(t.id), s)
            let v = try session.memory.read(address: s, count: 32)
            let w = (0..<4).map { k in v.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: k * 8, as: UInt64.self) } }
            let notify: Int32 = t.notify == "none" ? 1 : t.notify == "thread" ? 2 : 0
            posix.append(PosixTimer(id: t.id, clock: t.clock, notify: notify | (t.toThread ? 4 : 0), signal: t.signal,
                                    value: t.value, thread: t.toThread ? t.target : 0,
                                    interval: (w[0], w[1]), remaining: (w[2], w[3])))
        }
        return (IntervalTimers(values: itimers), posix)
    }

    /// get_mempolicy: of the calling thread, or (`address`) of the mapping
    /// there, its own only. nil: the default, or a kernel without NUMA.
    static func memoryPolicy(_ session: RemoteSession, address: UInt64? = nil) throws -> MemoryPolicy? {
        let s = session.scratch
        let words = MemoryPolicy.maxWords
        let r = try session.raw(NR.get_mempolicy, s + UInt64(Slot.policyMode), s + UInt64(Slot.policyNodes), UInt64(words * 64),
                                address ?? 0, address == nil ? 0 : 2)  // MPOL_F_ADDR
        guard r == 0 else { return nil }
        let mode = UInt64(UInt32(bitPattern: try session.get(Int32.self, at: Slot.policyMode)))
        guard mode != 0 else { return nil }
        let mask = try session.memory.read(address: s + UInt64(Slot.policyNodes), count: words * 8)
        return MemoryPolicy(mode: mode, nodes: (0..<words).map { k in mask.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: k * 8, as: UInt64.self) } })
    }

    /// Per thread: the alternate signal stack, the clear_child_tid address,
    /// timer slack, the parent-death signal and the memory policy (each thread has its own).
    static func thread(_ session: RemoteSession) throws -> ThreadPart {
        var r = ThreadPart()
        let s = session.scratch
        try session.call("sigaltstack", NR.sigaltstack, 0, s + UInt64(Slot.altStack))
        let ss = try session.get(KernelSignalStack.self, at: Slot.altStack)
        r.altStack = .init(base: ss.ss_sp, flags: ss.ss_flags, size: ss.ss_size)
        try session.prctl(.getTidAddress, s + UInt64(Slot.tidAddress))
        r.tidAddress = try session.get(UInt64.self, at: Slot.tidAddress)
        r.timerSlackNanos = try session.prctl(.getTimerslack)
        try session.prctl(.getPdeathsig, s + UInt64(Slot.deathSignal))
        r.parentDeathSignal = UInt64(try session.get(Int32.self, at: Slot.deathSignal))
        r.memoryPolicy = try memoryPolicy(session)
        return r
    }
}
