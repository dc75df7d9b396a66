import CLinux
import Glibc
import SystemPackage

/// Children made with a raw clone3: the stub that becomes a restored
/// process, PID 1 of a restart's namespace, the probes of `swiftcr check`.
/// The child is a copy of a multithreaded process, so it may run only
/// system calls (Syscall's wrappers): no allocation, no locks.
public enum RawChild {
    /// clone3 with SIGCHLD as exit signal, at PID `exactPID` when given
    /// (set_tid). The child runs `child`, which must end in exit or loop;
    /// the parent gets the child's PID, or the errno.
    /// `flags`: clone3 flags (CLONE_PARENT: a sibling of the caller, its parent's child).
    public static func spawn(exactPID: pid_t? = nil, flags: UInt64 = 0, _ child: () -> Never) -> Result<pid_t, Errno> {
        var args = CloneArguments()
        args.flags = flags
        // With CLONE_PARENT the kernel wants no exit signal: the child takes the caller's.
        args.exit_signal = flags & CloneFlags.parent != 0 ? 0 : UInt64(SIGCHLD)
        var tid = exactPID ?? 0
        let result = withUnsafeMutablePointer(to: &tid) { tidPointer -> Int in
            if exactPID != nil {
                args.set_tid = UInt64(UInt(bitPattern: tidPointer))
                args.set_tid_size = 1
            }
            return withUnsafeMutablePointer(to: &args) { a in
                cl_syscall6(NR.clone3, Int(bitPattern: a), MemoryLayout<CloneArguments>.size, 0, 0, 0, 0)
            }
        }
        if result == 0 { child() }
        return result > 0 ? .success(pid_t(result)) : .failure(Errno(rawValue: Glibc.errno))
    }
}

/// System calls for code that may not allocate (raw children) or that
/// needs calls glibc does not wrap. Each returns the kernel's result, -1
/// with errno set on failure, as syscall(2) does: swift-system's lowest layer.
public enum Syscall {
    @inline(__always)
    public static func raw(_ nr: Int, _ a1: Int = 0, _ a2: Int = 0, _ a3: Int = 0, _ a4: Int = 0, _ a5: Int = 0, _ a6: Int = 0) -> Int {
        cl_syscall6(nr, a1, a2, a3, a4, a5, a6)
    }

    /// The same call as a Result: the middle layer.
    public static func result(_ nr: Int, _ a1: Int = 0, _ a2: Int = 0, _ a3: Int = 0, _ a4: Int = 0) -> Result<Int, Errno> {
        let r = raw(nr, a1, a2, a3, a4)
        return r == -1 ? .failure(Errno(rawValue: Glibc.errno)) : .success(r)
    }

    public static func exitGroup(_ code: Int) -> Never {
        while true { _ = raw(NR.exit_group, code) }
    }

    /// pause() forever: a raw child's idle loop.
    public static func pauseForever() -> Never {
        while true { _ = raw(NR.pause) }
    }

    public static func parentPID() -> pid_t { pid_t(truncatingIfNeeded: raw(NR.getppid)) }

    public static func prctl(_ option: Prctl, _ a2: Int = 0, _ a3: Int = 0) -> Int { raw(NR.prctl, Int(option.rawValue), a2, a3) }

    /// Resets every catchable signal to its default action (the kernel's struct sigaction, here all zero).
    public static func resetSignalHandlers(_ action: UnsafeMutablePointer<KernelSigaction>) {
        for sig in 1...64 where sig != SIGKILL && sig != SIGSTOP {
            _ = raw(NR.rt_sigaction, sig, Int(bitPattern: action), 0, 8)
        }
    }

    /// wait4(-1, __WALL) for any child; -1 when there is none.
    public static func reapAny() -> Int { raw(NR.wait4, -1, 0, 0x4000_0000) }

    public static func unshare(_ flags: UInt64) -> Result<Int, Errno> { result(NR.unshare, Int(flags)) }

    /// sched_getaffinity/sched_setaffinity on a mask of up to 1024 CPUs.
    public static func affinity(of pid: pid_t, into mask: inout [UInt64]) -> Int {
        mask.withUnsafeMutableBytes { raw(NR.sched_getaffinity, Int(pid), $0.count, Int(bitPattern: $0.baseAddress)) }
    }

    public static func setAffinity(of pid: pid_t, _ mask: [UInt64]) -> Bool {
        mask.withUnsafeBytes { raw(NR.sched_setaffinity, Int(pid), $0.count, Int(bitPattern: $0.baseAddress)) } == 0
    }

    /// A thread's whole scheduling attributes (sched_getattr): the
    /// SCHED_DEADLINE runtime, deadline and period, and flags, which
    /// sched_getparam does not give.
    public static func schedulingAttributes(of tid: pid_t) -> SchedulingAttributes? {
        var attr = SchedulingAttributes()
        let size = MemoryLayout<SchedulingAttributes>.size
        let r = withUnsafeMutablePointer(to: &attr) { raw(NR.sched_getattr, Int(tid), Int(bitPattern: $0), size, 0) }
        return r == 0 ? attr : nil
    }

    public static func setSchedulingAttributes(of tid: pid_t, _ attr: SchedulingAttributes) -> Bool {
        var attr = attr
        attr.size = UInt32(MemoryLayout<SchedulingAttributes>.size)
        return withUnsafeMutablePointer(to: &attr) { raw(NR.sched_setattr, Int(tid), Int(bitPattern: $0), 0) } == 0
    }

    /// A thread's I/O priority (ioprio_get, IOPRIO_WHO_PROCESS): class << 13 | level; 0 is none set.
    public static func ioPriority(of tid: pid_t) -> Int { raw(NR.ioprio_get, 1, Int(tid)) }

    public static func setIOPriority(of tid: pid_t, _ value: Int) -> Bool { raw(NR.ioprio_set, 1, Int(tid), value) == 0 }

    /// The CPU this thread runs on (getcpu), or nil.
    public static func currentCPU() -> Int? {
        var cpu: UInt32 = 0
        return withUnsafeMutablePointer(to: &cpu) { raw(NR.getcpu, Int(bitPattern: $0)) } == 0 ? Int(cpu) : nil
    }
}

/// kcmp(2): whether two processes share a kernel object.
public enum Kcmp {
    /// The same file descriptor table (CLONE_FILES).
    public static func sameFiles(_ a: pid_t, _ b: pid_t) -> Bool {
        Syscall.raw(NR.kcmp, Int(a), Int(b), 2) == 0  // KCMP_FILES
    }
}
