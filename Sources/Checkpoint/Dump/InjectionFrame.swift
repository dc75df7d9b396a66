import Glibc
import LinuxKit

/// Parks a frozen thread so that a checkpointer killed at any instant leaves
/// it as it was: a signal frame holding its registers (with the restart rule
/// of an interrupted call applied), its signal mask and its FPU state is
/// written below its stack pointer, and the thread rests at an rt_sigreturn
/// of the program's own (libc's __restore_rt). Injected calls go through that
/// trampoline (SyscallInjector.returnTrampoline), their arguments live in
/// scratch memory under the frame, and no mapping is added. If the tracer
/// goes away the kernel lets the thread run, and its next step is the
/// sigreturn. Nothing written below the red zone is visible to the program.
enum InjectionFrame {
    /// Under the frame: the injected calls' arguments (TaskStateCollector.Slot).
    /// With it the thread needs barely more room below its stack pointer than
    /// a signal delivery takes (red zone, frame, xsave area).
    static let scratchSize = 256

    /// The first rt_sigreturn trampoline in the process's executable memory, libc first.
    static func findTrampoline(pid: pid_t, maps: [MapsEntry]) -> UInt64? {
        let code = maps.filter { $0.readable && $0.executable && $0.length <= 256 << 20 }
        let ordered = code.filter { $0.path?.contains("libc") == true } + code.filter { $0.path?.contains("libc") != true }
        let memory = RemoteMemory(pid: pid)
        // Read a piece at a time: libc's __restore_rt is in its first pieces.
        let piece: UInt64 = 256 << 10
        let overlap = UInt64(SignalFrame.trampolinePatterns.map(\.count).max() ?? 1) - 1
        for m in ordered {
            var at = m.start
            while at < m.end {
                let count = min(piece, m.end - at)
                guard let bytes = try? memory.read(address: at, count: Int(count)) else { break }
                for pattern in SignalFrame.trampolinePatterns {
                    if let offset = SignalFrame.firstIndex(of: pattern, in: bytes) { return at + UInt64(offset) }
                }
                guard at + count < m.end else { break }
                at += count - overlap
            }
        }
        return nil
    }

    /// A PROT_NONE mapping ends where `stack` starts (glibc's guard page).
    static func hasGuardBelow(_ stack: MapsEntry, _ maps: [MapsEntry]) -> Bool {
        maps.contains { $0.end == stack.start && !$0.readable && !$0.writable && !$0.executable }
    }

    /// Writes the frame and parks the thread at the trampoline; returns the
    /// scratch address. nil: no frame fits inside the mapping holding the
    /// stack pointer (or the kernel's frame layout is unknown), and the
    /// caller injects the old way.
    static func arm(tid: pid_t, original: Registers, mask: UInt64, maps: [MapsEntry], trampoline: UInt64) throws -> UInt64? {
        guard let sw = SignalFrame.kernelSoftwareBytes, original.rsp > 0,
              let place = SignalFrame.place(below: original.rsp, xstateSize: Int(sw.xstate_size), scratchSize: scratchSize),
              let stack = maps.first(where: { $0.start < original.rsp && original.rsp <= $0.end }),
              stack.writable, !stack.shared, place.scratch >= stack.start,
              // Only a stack of its own: the process's [stack], or a mapping above a
              // guard page (a thread's stack from pthread_create). Anywhere else the
              // program's data may lie right below the stack pointer: a stack
              // carved out of the heap (a malloc'ed alternate or coroutine stack),
              // or Go's, 8 KiB pieces of its heap arena with goroutine stacks and
              // the stack pool's free list next to them (the frame overwrote those,
              // and the image kept it: one Go checkpoint in six restored into a crash).
              stack.path == "[stack]" || Self.hasGuardBelow(stack, maps) else { return nil }
        // What the thread must resume with when it runs again without us.
        let resumed = SyscallRestart.resume(original, interruptingHandler: nil, canRestartBlock: true)
        guard let bytes = SignalFrame.encode(registers: resumed, mask: mask, xsave: try Ptrace.extendedState(tid), sw: sw, placement: place) else {
            return nil
        }
        try RemoteMemory(pid: tid).write(address: place.frame, bytes: bytes)
        try Ptrace.setRegisters(tid, SignalFrame.resting(original, trampoline: trampoline, placement: place))
        return place.scratch
    }
}
