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
}
