import CLinux
import Glibc
import LinuxKit
import Logging

/// The process that becomes the restored one: a child of the restorer that
/// only sits in pause(), traced and interrupted before any of its memory is touched.
enum Stub {
    /// Forks the stub with clone3, at `pid` exactly when given (set_tid).
    /// All signals are blocked in it from birth, so signals sent during the
    /// restore stay pending and reach the restored process afterwards.
    static func spawn(pid wanted: pid_t?) throws -> pid_t {
        var all = sigset_t(), old = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let restorer = getpid()
        var defaultAction = cl_kernel_sigaction()  // made here: the child may not allocate
        var args = cl_clone_args()
        args.exit_signal = UInt64(SIGCHLD)
        var tid = wanted ?? 0
        let result = withUnsafeMutablePointer(to: &tid) { tidPointer -> Int in
            if wanted != nil {
                args.set_tid = UInt64(UInt(bitPattern: tidPointer))
                args.set_tid_size = 1
            }
            return withUnsafeMutablePointer(to: &args) { a in
                cl_syscall6(NR.clone3, Int(bitPattern: a), MemoryLayout<cl_clone_args>.size, 0, 0, 0, 0)
            }
        }
        if result == 0 {
            // The child: no allocation, no locks, only raw system calls. It dies
            // with the restorer until seized (the restore sets the image's own
            // parent-death signal later), also if the restorer died just now.
            _ = cl_syscall6(NR.prctl, Int(PR_SET_PDEATHSIG), Int(SIGKILL), 0, 0, 0, 0)
            // The restorer's handlers (the Swift runtime's crash backtracer) must not
            // run in a stub: a recreated zombie that dies by SIGSEGV would print a crash.
            withUnsafeMutablePointer(to: &defaultAction) { action in
                for sig in 1...64 where sig != SIGKILL && sig != SIGSTOP {
                    _ = cl_syscall6(NR.rt_sigaction, sig, Int(bitPattern: action), 0, 8, 0, 0)
                }
            }
            let parent = pid_t(truncatingIfNeeded: cl_syscall6(NR.getppid, 0, 0, 0, 0, 0, 0))
            if parent != restorer && parent != 0 { _ = cl_syscall6(NR.exit_group, 1, 0, 0, 0, 0, 0) }
            while true { _ = cl_syscall6(NR.pause, 0, 0, 0, 0, 0, 0) }
        }
        if result < 0 {
            let e = errno
            switch e {
            case EEXIST:
                let holder = wanted.flatMap { ExitingHolders.isExiting($0) ? (try? ProcStat.read(pid: $0))?.ppid : nil }
                let why = holder.map { "is held by a zombie its parent \($0) has not reaped" } ?? "is already in use"
                throw CheckpointError(EBUSY, "PID \(wanted ?? 0) \(why); restart with --no-restore-pid or free it")
            case EPERM: throw CheckpointError(EPERM, "choosing PID \(wanted ?? 0) needs root (CAP_CHECKPOINT_RESTORE); use --no-restore-pid")
            case EINVAL where wanted != nil: throw CheckpointError(EINVAL, "PID \(wanted ?? 0) is above this system's pid_max")
            default: throw CheckpointError(e, "clone3: \(String(cString: strerror(e)))")
            }
        }
        return pid_t(result)
    }

    /// Seizes the stub (killed if we die) and stops it in its pause().
    static func capture(_ pid: pid_t) throws {
        // Threads and processes created by injected clone3 start traced and stopped.
        try Ptrace.seize(pid, options: Int(CL_PTRACE_O_TRACESYSGOOD | CL_PTRACE_O_EXITKILL | CL_PTRACE_O_TRACECLONE | CL_PTRACE_O_TRACEFORK))
        try Ptrace.interrupt(pid)
        try FrozenProcess.waitForStop(pid)
        // It must have got through its set-up (signal handlers reset, parent-death
        // signal) into pause() before we take it over: let it run until it has.
        for _ in 0..<2000 {
            if Int(truncatingIfNeeded: try Ptrace.registers(pid).orig_rax) == NR.pause { return }
            try Ptrace.cont(pid)
            usleep(500)
            try Ptrace.interrupt(pid)
            try FrozenProcess.waitForStop(pid)
        }
        throw CheckpointError(ETIMEDOUT, "stub \(pid) did not reach its pause()")
    }

    static func destroy(_ pid: pid_t) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, __WALL)
    }
}

/// Runs the restore on one CPU: an injected system call costs ~11 µs when the
/// tracer and the stub share a CPU and several times that across CPUs.
struct CPUPin {
    var original = [UInt64](repeating: 0, count: 16)
    var pinned = false

    mutating func pinCurrentCPU() {
        let got = original.withUnsafeMutableBytes { cl_syscall6(204, 0, $0.count, Int(bitPattern: $0.baseAddress), 0, 0, 0) }
        var cpuNumber: UInt32 = 0
        let cpu = withUnsafeMutablePointer(to: &cpuNumber) { cl_syscall6(309, Int(bitPattern: $0), 0, 0, 0, 0, 0) } == 0 ? Int(cpuNumber) : -1
        guard got > 0, cpu >= 0, cpu < 1024 else { return }
        var one = [UInt64](repeating: 0, count: 16)
        one[cpu / 64] = UInt64(1) << UInt64(cpu % 64)
        pinned = one.withUnsafeBytes { cl_syscall6(203, 0, $0.count, Int(bitPattern: $0.baseAddress), 0, 0, 0) } == 0
    }

    func release(_ pids: [pid_t]) {
        guard pinned else { return }
        for p in pids + [0] {
            _ = original.withUnsafeBytes { cl_syscall6(203, Int(p), $0.count, Int(bitPattern: $0.baseAddress), 0, 0, 0) }
        }
    }
}
