import Glibc
import LinuxKit
import Logging

/// The process that becomes the restored one: a child of the restorer that
/// only sits in pause(), traced and interrupted before any of its memory is touched.
enum Stub {
    /// Forks the stub with clone3, at `pid` exactly when given (set_tid).
    /// All signals are blocked in it from birth, so signals sent during the
    /// restore stay pending and reach the restored process afterwards.
    /// `siblingOfRestorer`: the stub is born its parent's child (CLONE_PARENT),
    /// so the program that started the restart is the restored process's parent.
    /// `newPIDNamespace`: the stub is PID 1 of a new PID namespace (CLONE_NEWPID).
    static func spawn(pid wanted: pid_t?, siblingOfRestorer: Bool = false, newPIDNamespace: Bool = false) throws -> pid_t {
        var all = sigset_t(), old = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let restorer = getpid()
        let expectedParent = siblingOfRestorer ? getppid() : restorer
        var defaultAction = KernelSigaction()  // made here: the child may not allocate
        let flags = (siblingOfRestorer ? CloneFlags.parent : 0) | (newPIDNamespace ? CloneFlags.newPID : 0)
        let mountNamespace = NamespaceProc.namespaceFD
        let result = RawChild.spawn(exactPID: wanted, flags: flags) {
            // The child: no allocation, no locks, only raw system calls. It dies
            // with the restorer until seized (the restore sets the image's own
            // parent-death signal later), also if the restorer died just now.
            _ = Syscall.prctl(.setPdeathsig, Int(SIGKILL))
            // In a user's PID namespace: where its /proc will be (never in the restorer's).
            if !NamespaceProc.join(mountNamespace) { Syscall.exitGroup(1) }
            // The restorer's handlers (the Swift runtime's crash backtracer) must not
            // run in a stub: a recreated zombie that dies by SIGSEGV would print a crash.
            withUnsafeMutablePointer(to: &defaultAction) { Syscall.resetSignalHandlers($0) }
            let parent = Syscall.parentPID()
            if parent != expectedParent && parent != 0 { Syscall.exitGroup(1) }
            Syscall.pauseForever()
        }
        switch result {
        case .success(let pid): return pid
        case .failure(let errno):
            switch errno.rawValue {
            case EEXIST:
                let holder = wanted.flatMap { ExitingHolders.isExiting($0) ? (try? ProcStat.read(pid: $0))?.ppid : nil }
                let why = holder.map { "is held by a zombie its parent \($0) has not reaped" } ?? "is already in use"
                throw CheckpointError(EBUSY, "PID \(wanted ?? 0) \(why); restart with --no-restore-pid or free it")
            case EPERM: throw CheckpointError(EPERM, "choosing PID \(wanted ?? 0) needs root (CAP_CHECKPOINT_RESTORE); use --no-restore-pid")
            case EINVAL where wanted != nil: throw CheckpointError(EINVAL, "PID \(wanted ?? 0) is above this system's pid_max")
            case let e: throw CheckpointError(e, "clone3: \(errno)")
            }
        }
    }

    /// Seizes the stub (killed if we die) and stops it in its pause().
    /// Returns whether seccomp is suspended while traced (root only): then a
    /// restored seccomp mode cannot stop the calls injected after it. The
    /// stub's children and threads inherit the option.
    @discardableResult
    static func capture(_ pid: pid_t) throws -> Bool {
        // Threads and processes created by injected clone3 start traced and stopped.
        let options = PtraceOption.traceSysGood | PtraceOption.exitKill | PtraceOption.traceClone | PtraceOption.traceFork
        var suspended = false
        if geteuid() == 0 {
            do {
                try Ptrace.seize(pid, options: options | PtraceOption.suspendSeccomp)
                suspended = true
            } catch let e as SystemCallError where e.errno == .notPermitted || e.errno == .invalidArgument {}
        }
        if !suspended { try Ptrace.seize(pid, options: options) }
        try Ptrace.interrupt(pid)
        try FrozenProcess.waitForStop(pid)
        // It must have got through its set-up (signal handlers reset, parent-death
        // signal) into pause() before we take it over: let it run until it has.
        for _ in 0..<2000 {
            if Int(truncatingIfNeeded: try Ptrace.registers(pid).orig_rax) == NR.pause { return suspended }
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
