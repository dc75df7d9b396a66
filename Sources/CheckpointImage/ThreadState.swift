/// One thread: registers exactly as the kernel holds them.
public struct ThreadState: Equatable, Sendable {
    /// `user_regs_struct` as 27 u64 in kernel order; see `registerNames`.
    public var registers: [UInt64]
    /// The raw xsave area (NT_X86_XSTATE), x87/SSE/AVX/AVX-512.
    public var xsave: [UInt8]
    public var tid: Int32
    public var signalMask: UInt64
    /// Pending thread-directed signals, each a 128-byte siginfo.
    public var pendingSignals: [[UInt8]]
    public var altStack: AltStack
    public var rseq: RseqArea?
    /// The clear_child_tid address (glibc's cached TID lives there).
    public var tidAddress: UInt64
    /// The robust futex list (set_robust_list): head address and length; 0 if none.
    public var robustListHead: UInt64 = 0
    public var robustListLength: UInt64 = 0
    /// Seccomp filters, oldest first (the order to install them): each the
    /// filter's flags (u64) then its BPF instructions (8 bytes each).
    public var seccompFilters: [[UInt8]] = []
    /// In seccomp strict mode: only read, write, _exit and sigreturn.
    public var seccompStrict = false
    /// Since 1.3: this thread's own credentials where they differ from its
    /// process's (a raw setresuid changes one thread): uids (4), gids (4),
    /// then the five capability sets; empty when the same.
    public var credentials: [UInt64] = []
    /// Since 2026-12-04: this thread's cgroups where they differ from its
    /// process's (cgroup v1 places threads one by one); empty when the same.
    public var cgroups: [CgroupMembership] = []
    /// Since 2026-12-04: this thread's name (its comm, set by
    /// pthread_setname_np or PR_SET_NAME) where it differs from its process's.
    public var name: String?
    /// prctl(PR_GET_TIMERSLACK), in nanoseconds; nil in images written before it was saved.
    public var timerSlackNanos: UInt64?
    /// Scheduling: policy (with SCHED_RESET_ON_FORK), real-time priority, nice; nil in older images.
    public var scheduling: Scheduling?
    /// CPU affinity (sched_getaffinity) as 64-bit words, CPU n at bit n % 64 of
    /// word n / 64, where it leaves out a CPU the machine had online; empty: every CPU.
    public var affinity: [UInt64] = []
    /// I/O priority (ioprio_get): class << 13 | level; 0: none set.
    public var ioPriority: UInt64 = 0
    /// Since 2026-12-06: this thread's parent-death signal (PR_GET_PDEATHSIG
    /// is per thread; the main thread's is also the process's); 0: none.
    public var parentDeathSignal: UInt64 = 0
    /// Since 2026-12-06: this thread's NUMA memory policy (set_mempolicy); nil: the default.
    public var memoryPolicy: MemoryPolicy?

    public struct Scheduling: Equatable, Sendable {
        public var policy: UInt32, priority: UInt32, nice: Int32
        /// Since 2026-12-06 (late), SCHED_DEADLINE only (else all 0): its
        /// reservation in nanoseconds, and sched_attr flags beside
        /// reset-on-fork (SCHED_FLAG_RECLAIM, SCHED_FLAG_DL_OVERRUN).
        public var runtime: UInt64 = 0, deadline: UInt64 = 0, period: UInt64 = 0, flags: UInt64 = 0
        public init(policy: UInt32, priority: UInt32, nice: Int32) { self.policy = policy; self.priority = priority; self.nice = nice }

        public static let deadlinePolicy: UInt32 = 6
        public static let resetOnFork: UInt32 = 0x4000_0000
        /// The sched_attr flags a deadline reservation keeps: reclaim and overrun signals.
        public static let deadlineFlags: UInt64 = 0x02 | 0x04
        public var isDeadline: Bool { policy & ~Self.resetOnFork == Self.deadlinePolicy }
    }

    public struct AltStack: Equatable, Sendable {
        public var base: UInt64, flags: Int32, size: UInt64
        public init(base: UInt64, flags: Int32, size: UInt64) { self.base = base; self.flags = flags; self.size = size }
    }

    public struct RseqArea: Equatable, Sendable {
        public var address: UInt64, size: UInt32, signature: UInt32
        public init(address: UInt64, size: UInt32, signature: UInt32) { self.address = address; self.size = size; self.signature = signature }
    }

    public static let registerNames = [
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi",
        "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
    ]

    public func register(_ name: String) -> UInt64? {
        Self.registerNames.firstIndex(of: name).map { registers[$0] }
    }

    public init(tid: Int32, registers: [UInt64], xsave: [UInt8], signalMask: UInt64, pendingSignals: [[UInt8]],
                altStack: AltStack, rseq: RseqArea?, tidAddress: UInt64) {
        self.tid = tid; self.registers = registers; self.xsave = xsave; self.signalMask = signalMask
        self.pendingSignals = pendingSignals; self.altStack = altStack; self.rseq = rseq; self.tidAddress = tidAddress
    }

    /// Numbered by hand: a tag's number is the format, never its position here.
    enum Tag: UInt16, CaseIterable {
        case tid = 1, registers = 2, xsave = 3, sigmask = 4, pending = 5, altBase = 6, altFlags = 7
        case altSize = 8, rseqAddress = 9, rseqSize = 10, rseqSignature = 11, tidAddress = 12, robustHead = 13, robustLength = 14
        case seccompFilter = 15, timerSlack = 16, scheduling = 17, seccompStrict = 18, credentials = 19, cgroup = 20, name = 21
        case affinity = 22, ioPriority = 23, parentDeathSignal = 24, memoryPolicy = 25, deadline = 26
    }

    func encode(into e: inout RecordEncoder) {
        e.i64(Tag.tid.rawValue, Int64(tid))
        e.u64s(Tag.registers.rawValue, registers)
        e.raw(Tag.xsave.rawValue, xsave)
        e.u64(Tag.sigmask.rawValue, signalMask)
        for p in pendingSignals { e.raw(Tag.pending.rawValue, p) }
        e.u64(Tag.altBase.rawValue, altStack.base)
        e.i64(Tag.altFlags.rawValue, Int64(altStack.flags))
        e.u64(Tag.altSize.rawValue, altStack.size)
        if let r = rseq {
            e.u64(Tag.rseqAddress.rawValue, r.address)
            e.u64(Tag.rseqSize.rawValue, UInt64(r.size))
            e.u64(Tag.rseqSignature.rawValue, UInt64(r.signature))
        }
        e.u64(Tag.tidAddress.rawValue, tidAddress)
        if robustListHead != 0 {
            e.u64(Tag.robustHead.rawValue, robustListHead)
            e.u64(Tag.robustLength.rawValue, robustListLength)
        }
        for f in seccompFilters { e.raw(Tag.seccompFilter.rawValue, f) }
        if let slack = timerSlackNanos { e.u64(Tag.timerSlack.rawValue, slack) }
        if let s = scheduling { e.u64s(Tag.scheduling.rawValue, [UInt64(s.policy), UInt64(s.priority), UInt64(bitPattern: Int64(s.nice))]) }
        if let s = scheduling, s.isDeadline { e.u64s(Tag.deadline.rawValue, [s.runtime, s.deadline, s.period, s.flags]) }
        if seccompStrict { e.u64(Tag.seccompStrict.rawValue, 1) }
        if !credentials.isEmpty { e.u64s(Tag.credentials.rawValue, credentials) }
        for c in cgroups { e.string(Tag.cgroup.rawValue, c.encoded) }
        if let name { e.string(Tag.name.rawValue, name) }
        if !affinity.isEmpty { e.u64s(Tag.affinity.rawValue, affinity) }
        if ioPriority != 0 { e.u64(Tag.ioPriority.rawValue, ioPriority) }
        if parentDeathSignal != 0 { e.u64(Tag.parentDeathSignal.rawValue, parentDeathSignal) }
        if let policy = memoryPolicy { e.u64s(Tag.memoryPolicy.rawValue, policy.encoded) }
    }

    init(decoding d: RecordDecoder) throws {
        tid = try d.i32(Tag.tid.rawValue, "thread id")
        registers = try d.u64s(Tag.registers.rawValue)
        guard registers.count == Self.registerNames.count else {
            throw ImageError.malformed(what: "thread \(tid): \(registers.count) registers, expected 27", offset: d.base)
        }
        xsave = d.raw(Tag.xsave.rawValue) ?? []
        signalMask = try d.u64(Tag.sigmask.rawValue, "signal mask")
        pendingSignals = d.fields.filter { $0.tag == Tag.pending.rawValue }.map { Array(d.bytes[$0.range]) }
        guard pendingSignals.allSatisfy({ $0.count == 128 }) else {
            throw ImageError.malformed(what: "thread \(tid): a pending siginfo is not 128 bytes", offset: d.base)
        }
        altStack = AltStack(base: try d.u64(Tag.altBase.rawValue, default: 0),
                            flags: Int32(truncatingIfNeeded: try d.u64(Tag.altFlags.rawValue, default: 2)),
                            size: try d.u64(Tag.altSize.rawValue, default: 0))
        if let a = try d.optionalU64(Tag.rseqAddress.rawValue) {
            rseq = RseqArea(address: a, size: UInt32(truncatingIfNeeded: try d.u64(Tag.rseqSize.rawValue, "rseq size")),
                            signature: UInt32(truncatingIfNeeded: try d.u64(Tag.rseqSignature.rawValue, "rseq signature")))
        } else {
            rseq = nil
        }
        tidAddress = try d.u64(Tag.tidAddress.rawValue, default: 0)
        robustListHead = try d.u64(Tag.robustHead.rawValue, default: 0)
        robustListLength = try d.u64(Tag.robustLength.rawValue, default: 0)
        timerSlackNanos = try d.optionalU64(Tag.timerSlack.rawValue)
        let sched = try d.u64s(Tag.scheduling.rawValue)
        if !sched.isEmpty {
            let nice = Int64(bitPattern: sched.count == 3 ? sched[2] : 0)
            guard sched.count == 3, sched[0] & ~0x4000_0000 <= 6, sched[1] <= 99, (-20...19).contains(nice) else {
                throw ImageError.malformed(what: "thread scheduling \(sched) is not (policy, priority 0-99, nice -20-19)", offset: d.base)
            }
            scheduling = Scheduling(policy: UInt32(sched[0]), priority: UInt32(sched[1]), nice: Int32(nice))
        }
        let deadline = try d.u64s(Tag.deadline.rawValue)
        if !deadline.isEmpty {
            // The kernel's own bounds (__checkparam_dl): at least 1024 ns of
            // runtime, runtime <= deadline <= period, under 2^63 ns.
            guard var s = scheduling, s.isDeadline, deadline.count == 4, deadline[0] >= 1024, deadline[0] <= deadline[1],
                  deadline[1] <= deadline[2], deadline[2] < 1 << 63, deadline[3] & ~Scheduling.deadlineFlags == 0 else {
                throw ImageError.malformed(what: "thread \(tid): deadline reservation \(deadline) is not (runtime >= 1024 <= deadline <= period ns, flags 0x2|0x4) of a SCHED_DEADLINE thread", offset: d.base)
            }
            (s.runtime, s.deadline, s.period, s.flags) = (deadline[0], deadline[1], deadline[2], deadline[3])
            scheduling = s
        }
        seccompFilters = d.fields.filter { $0.tag == Tag.seccompFilter.rawValue }.map { Array(d.bytes[$0.range]) }
        // BPF_MAXINSNS is 4096; a filter holds at least one instruction.
        guard seccompFilters.allSatisfy({ $0.count >= 16 && ($0.count - 8) % 8 == 0 && ($0.count - 8) / 8 <= 4096 }) else {
            throw ImageError.malformed(what: "thread \(tid): a seccomp filter is not flags plus 1...4096 instructions", offset: d.base)
        }
        seccompStrict = try d.u64(Tag.seccompStrict.rawValue, default: 0) != 0
        credentials = try d.u64s(Tag.credentials.rawValue)
        guard credentials.isEmpty || credentials.count == 13, credentials.prefix(8).allSatisfy({ $0 <= UInt64(UInt32.max) }) else {
            throw ImageError.malformed(what: "thread \(tid): \(credentials.count) credential values, want 13", offset: d.base)
        }
        cgroups = try CgroupMembership.decodeAll(d, tag: Tag.cgroup.rawValue, what: "thread \(tid)")
        name = d.string(Tag.name.rawValue)
        affinity = try d.u64s(Tag.affinity.rawValue)
        guard affinity.count <= 128, affinity.isEmpty || affinity.contains(where: { $0 != 0 }) else {
            throw ImageError.malformed(what: "thread \(tid): a CPU affinity of \(affinity.count) words with no CPU, or over 8192 CPUs", offset: d.base)
        }
        ioPriority = try d.u64(Tag.ioPriority.rawValue, default: 0)
        guard ioPriority < 4 << 13 else {
            throw ImageError.malformed(what: "thread \(tid): I/O priority \(ioPriority) is not class << 13 | level with class 0-3", offset: d.base)
        }
        parentDeathSignal = try d.u64(Tag.parentDeathSignal.rawValue, default: 0)
        memoryPolicy = try MemoryPolicy.decode(try d.u64s(Tag.memoryPolicy.rawValue), what: "thread \(tid)", offset: d.base)
        guard parentDeathSignal <= 64 else {
            throw ImageError.malformed(what: "thread \(tid): parent-death signal \(parentDeathSignal) is not a signal (1-64)", offset: d.base)
        }
        if let name, name.utf8.count > 15 || name.contains("\0") {
            throw ImageError.malformed(what: "thread \(tid): name '\(name)' is not a comm (up to 15 bytes)", offset: d.base)
        }
    }
}
