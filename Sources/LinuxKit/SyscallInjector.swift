import CLinux
import Glibc
import SystemPackage

/// Runs system calls inside a ptrace-stopped thread: load the call into a copy
/// of its registers, point rip at a `syscall` instruction, and run from the
/// syscall-entry stop to the syscall-exit stop (PTRACE_O_TRACESYSGOOD).
/// No code is written into the tracee and no int3 is needed.
public final class SyscallInjector {
    public let tid: pid_t
    /// Address of a `syscall` instruction (0f 05) in the tracee.
    public var instruction: UInt64
    /// Registers the calls are built on; callers restore the real ones afterwards.
    public var template: Registers
    /// Signals that stopped the tracee mid-injection and were held back; the
    /// caller re-queues them so nothing is lost.
    public private(set) var heldSignals: [Int32] = []
    /// The task an injected fork/clone created, in the tracer's PID namespace
    /// (the call itself returns it in the tracee's, which may differ).
    public private(set) var lastNewTask: pid_t?
    /// Kill-safe mode (see SignalFrame): the thread rests at this
    /// `mov $15, %rax; syscall` with rsp on a frame of its original state.
    /// Each call turns that rt_sigreturn into the wanted call at its entry
    /// stop and sets rip back to the trampoline in the same PTRACE_SETREGS,
    /// so whenever the tracer dies the thread's next step is the sigreturn.
    public var returnTrampoline: UInt64?

    public init(tid: pid_t, instruction: UInt64, template: Registers) {
        self.tid = tid
        self.instruction = instruction
        self.template = template
    }

    /// Performs the call and returns the kernel's raw result (negative errno on failure).
    public func raw(_ nr: Int, _ a: UInt64 = 0, _ b: UInt64 = 0, _ c: UInt64 = 0,
                    _ d: UInt64 = 0, _ e: UInt64 = 0, _ f: UInt64 = 0) throws -> Int64 {
        if let trampoline = returnTrampoline {
            try runToSyscallStop()   // entry of the trampoline's rt_sigreturn
            var regs = try Ptrace.registers(tid)
            guard regs.orig_rax == 15 else {
                throw SystemCallError("injection in \(tid): stopped at system call \(Int64(bitPattern: regs.orig_rax)), not the trampoline's", .invalidArgument)
            }
            regs.orig_rax = UInt64(nr)
            regs.rdi = a; regs.rsi = b; regs.rdx = c; regs.r10 = d; regs.r8 = e; regs.r9 = f
            regs.rip = trampoline
            try Ptrace.setRegisters(tid, regs)
            try runToSyscallStop()   // exit: back at the trampoline, resting again
            return Int64(bitPattern: try Ptrace.registers(tid).rax)
        }
        var regs = template
        regs.rax = UInt64(nr)
        regs.orig_rax = UInt64.max  // -1: the kernel must not apply syscall-restart fixups
        regs.rdi = a; regs.rsi = b; regs.rdx = c; regs.r10 = d; regs.r8 = e; regs.r9 = f
        regs.rip = instruction
        try Ptrace.setRegisters(tid, regs)
        try runToSyscallStop()   // entry
        try runToSyscallStop()   // exit
        return Int64(bitPattern: try Ptrace.registers(tid).rax)
    }

    /// Performs the call and throws the errno it returned, named after `name`.
    @discardableResult
    public func call(_ name: @autoclosure () -> String, _ nr: Int, _ a: UInt64 = 0, _ b: UInt64 = 0, _ c: UInt64 = 0,
                     _ d: UInt64 = 0, _ e: UInt64 = 0, _ f: UInt64 = 0) throws -> UInt64 {
        let r = try raw(nr, a, b, c, d, e, f)
        if r < 0 && r > -4096 {
            throw SystemCallError("\(name()) in \(tid)", Errno(rawValue: Int32(-r)))
        }
        return UInt64(bitPattern: r)
    }

    private func runToSyscallStop() throws {
        var signal: Int32 = 0
        var faults = 0
        while true {
            try Ptrace.toSyscall(tid, signal: signal)
            signal = 0
            switch try Ptrace.wait(tid) {
            case .syscallStop:
                return
            case .stopped(_, let sig, let event):
                // fork/vfork/clone events name the new task; a group stop or
                // interrupt: just go on; a signal-delivery stop: hold it.
                if (1...3).contains(event) { lastNewTask = pid_t(truncatingIfNeeded: try Ptrace.eventMessage(tid)) }
                if event == 0 && sig != SIGTRAP { heldSignals.append(sig) }
                // The injected instruction itself faults (not mapped here): held,
                // the fault would only come again, for ever.
                if event == 0 && [SIGSEGV, SIGBUS, SIGILL].contains(sig) {
                    faults += 1
                    if faults > 3 {
                        throw SystemCallError("injection in \(tid): the call at 0x\(String(instruction, radix: 16)) faults with signal \(sig)", .badAddress)
                    }
                }
            case .exited(_, let code):
                throw SystemCallError("injected syscall: process \(tid) exited with \(code)", .noSuchProcess)
            case .killed(_, let sig):
                throw SystemCallError("injected syscall: process \(tid) killed by signal \(sig)", .noSuchProcess)
            }
        }
    }

    /// Finds a `syscall` instruction usable for injection: right behind rip when
    /// the thread sits in a system call, else anywhere in the vDSO.
    public static func findInstruction(pid: pid_t, registers: Registers, maps: [MapsEntry]) throws -> UInt64 {
        let memory = RemoteMemory(pid: pid)
        if Int64(bitPattern: registers.orig_rax) >= 0, registers.rip >= 2,
           let bytes = try? memory.read(address: registers.rip - 2, count: 2), bytes == [0x0f, 0x05] {
            return registers.rip - 2
        }
        for m in maps where m.path == "[vdso]" {
            let bytes = try memory.read(address: m.start, count: Int(m.end - m.start))
            for i in 0..<(bytes.count - 1) where bytes[i] == 0x0f && bytes[i + 1] == 0x05 {
                return m.start + UInt64(i)
            }
        }
        throw SystemCallError("no syscall instruction found in process \(pid) (no vDSO?)", .execFormatError)
    }
}
