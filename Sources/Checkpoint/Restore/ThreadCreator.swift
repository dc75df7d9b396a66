import CLinux
import CheckpointImage
import Glibc
import LinuxKit

/// Creates a restored process's other threads with clone3 injected into its
/// main thread. PTRACE_O_TRACECLONE makes each start traced and stopped, so it
/// runs nothing until its registers are the image's.
enum ThreadCreator {
    /// Returns the thread's session (its TID as we see it) and its TID as the process sees it.
    static func create(_ thread: ThreadState, from main: RemoteSession, exactTID: Bool) throws -> (session: RemoteSession, inner: pid_t) {
        var args = cl_clone_args()
        args.flags = UInt64(CL_CLONE_THREAD_FLAGS)
        if exactTID {
            args.set_tid = try main.put(value: Int32(thread.tid), at: 512)
            args.set_tid_size = 1
        }
        let argsAt = try main.put(value: args, at: 0)
        let created = try main.raw(NR.clone3, argsAt, UInt64(MemoryLayout<cl_clone_args>.size))
        guard created > 0 else {
            let e = Int32(truncatingIfNeeded: -created)
            if e == EEXIST { throw CheckpointError(EBUSY, "thread ID \(thread.tid) is already in use") }
            throw CheckpointError(e, "creating thread \(thread.tid): \(String(cString: strerror(e)))")
        }
        let tid = main.injector.lastNewTask ?? pid_t(created)
        try FrozenProcess.waitForStop(tid)
        try Ptrace.setSignalMask(tid, ~UInt64(0))
        let injector = SyscallInjector(tid: tid, instruction: main.injector.instruction, template: try Ptrace.registers(tid))
        let session = RemoteSession(pid: tid, injector: injector)
        session.scratch = main.scratch
        session.scratchSize = main.scratchSize
        return (session, pid_t(created))
    }
}
