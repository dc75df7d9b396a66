import CheckpointImage
import Glibc
import LinuxKit

/// clone3 injected into a stopped task: the new thread or process starts
/// traced and stopped (PTRACE_O_TRACECLONE/TRACEFORK), so it runs nothing
/// until it has been given its state.
enum InjectedClone {
    /// Returns the new task's ID as we see it (for ptrace) and as its own
    /// PID namespace does (clone3's result); `exactID` asks for set_tid.
    static func run(in parent: RemoteSession, flags: UInt64, exitSignal: Int32, exactID: pid_t?, what: String) throws -> (outer: pid_t, inner: pid_t) {
        var args = CloneArguments()
        args.flags = flags
        args.exit_signal = UInt64(exitSignal)
        if let id = exactID {
            args.set_tid = try parent.put(value: Int32(id), at: 512)
            args.set_tid_size = 1
        }
        let at = try parent.put(value: args, at: 0)
        let created = try parent.raw(NR.clone3, at, UInt64(MemoryLayout<CloneArguments>.size))
        guard created > 0 else {
            let e = Int32(truncatingIfNeeded: -created)
            if e == EEXIST { throw CheckpointError(EBUSY, "\(what) ID \(exactID ?? 0) is already in use; restart with --no-restore-pid or free it") }
            throw CheckpointError(errno: e, "creating \(what) \(exactID ?? 0)")
        }
        let outer = parent.injector.lastNewTask ?? pid_t(created)
        try FrozenProcess.waitForStop(outer)
        return (outer, pid_t(created))
    }
}

/// Creates a restored process's other threads from its main thread.
enum ThreadCreator {
    /// Returns the thread's session (its TID as we see it) and its TID as the process sees it.
    /// `exactID`: the TID to ask for (nil: the kernel picks).
    static func create(_ thread: ThreadState, from main: RemoteSession, exactID: pid_t?) throws -> (session: RemoteSession, inner: pid_t) {
        let ids = try InjectedClone.run(in: main, flags: CloneFlags.thread, exitSignal: 0, exactID: exactID, what: "thread")
        try Ptrace.setSignalMask(ids.outer, ~UInt64(0))
        let injector = SyscallInjector(tid: ids.outer, instruction: main.injector.instruction, template: try Ptrace.registers(ids.outer))
        let session = RemoteSession(pid: ids.outer, injector: injector)
        session.scratch = main.scratch
        session.scratchSize = main.scratchSize
        return (session, ids.inner)
    }

    /// A thread made with ID `tid` in our PID namespace without set_tid (its
    /// process is in a user namespace without privilege here): ns_last_pid
    /// set one below, then the clone. A thread that got another ID (some
    /// process took that one between) ends, and another try is made.
    static func create(_ thread: ThreadState, from main: RemoteSession, lastIDBelow tid: pid_t) throws -> (session: RemoteSession, inner: pid_t) {
        for _ in 0..<8 {
            // In a user's PID namespace of the restart's own, its PID 1 sets it (only a process there may).
            if PIDNamespace.entered { try NamespaceProc.setLastID(tid - 1) } else { try PIDNamespace.write("/proc/sys/kernel/ns_last_pid", "\(tid - 1)") }
            let made = try create(thread, from: main, exactID: nil)
            if made.inner == tid { return made }
            try end(made.session.pid, instruction: main.injector.instruction)
            if !PIDNamespace.entered && (kill(tid, 0) == 0 || errno == EPERM) {
                throw CheckpointError(EBUSY, "thread ID \(tid) is already in use; restart with --no-restore-pid or free it")
            }
        }
        throw CheckpointError(EBUSY, "thread ID \(tid) was taken by other processes eight times over; restart with --no-restore-pid")
    }

    /// A thread made with the wrong ID ends (exit: itself only), untraced.
    private static func end(_ tid: pid_t, instruction: UInt64) throws {
        var regs = try Ptrace.registers(tid)
        regs.orig_rax = UInt64.max
        regs.rip = instruction
        regs.rax = UInt64(NR.exit)
        regs.rdi = 0
        try Ptrace.setRegisters(tid, regs)
        try Ptrace.detach(tid)
    }
}
