import Glibc
import LinuxKit
import Logging

/// System calls in a process that runs on: it is frozen, the calls are
/// injected on its main thread with every signal blocked (a signal that
/// comes is held and sent again), and it is thawed as it was. For undoing,
/// after a thaw, what a failed checkpoint had left in it.
enum BriefStop {
    static func inject(_ pid: pid_t, log: Logger, _ body: (RemoteSession) throws -> Void) throws {
        let frozen = try FrozenProcess.freeze(pid, log: log)
        defer { frozen.thaw(log: log) }
        guard let regs = frozen.originalRegisters[pid] else { throw CheckpointError(ESRCH, "process \(pid) has no main thread left") }
        let maps = try ProcMaps.parse(try Sys.readText("/proc/\(pid)/maps"), file: "/proc/\(pid)/maps")
        let instruction = try SyscallInjector.findInstruction(pid: pid, registers: regs, maps: maps)
        let session = RemoteSession(pid: pid, injector: SyscallInjector(tid: pid, instruction: instruction, template: regs))
        frozen.modified.insert(pid)
        try Ptrace.setSignalMask(pid, ~UInt64(0))
        defer { frozen.heldSignals += session.injector.heldSignals }
        try body(session)
    }
}
