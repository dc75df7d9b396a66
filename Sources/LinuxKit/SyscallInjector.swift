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
    /// Where the thread has SyscallProgram.code, and room for a table of
    /// `capacity` entries: queued calls then run in one go. Nil: each runs on its own.
    public var program: (code: UInt64, table: UInt64, capacity: Int)?
    /// Calls queued and not run yet (`queue`), each with its name.
    private var queued: [(call: SyscallProgram.Call, name: () -> String)] = []

    public init(tid: pid_t, instruction: UInt64, template: Registers) {
        self.tid = tid
        self.instruction = instruction
        self.template = template
    }

    /// Performs the call and returns the kernel's raw result (negative errno on failure).
    /// Calls queued before it run first.
    public func raw(_ nr: Int, _ a: UInt64 = 0, _ b: UInt64 = 0, _ c: UInt64 = 0,
                    _ d: UInt64 = 0, _ e: UInt64 = 0, _ f: UInt64 = 0) throws -> Int64 {
        if !queued.isEmpty || listFailure != nil { try flush() }
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

    /// A call whose arguments are values (no pointer into memory a later
    /// write may change) and whose result only matters if it fails: with a
    /// `program` it waits for the next ones and runs with them (`flush`, or
    /// any other call), and its failure is thrown then, named after `name`.
    public func queue(_ name: @escaping @autoclosure () -> String, _ nr: Int, _ arguments: UInt64...) throws {
        guard let program else {
            try call(name(), nr, arguments.count > 0 ? arguments[0] : 0, arguments.count > 1 ? arguments[1] : 0,
                     arguments.count > 2 ? arguments[2] : 0, arguments.count > 3 ? arguments[3] : 0,
                     arguments.count > 4 ? arguments[4] : 0, arguments.count > 5 ? arguments[5] : 0)
            return
        }
        queued.append((SyscallProgram.Call(nr, arguments), name))
        if queued.count >= program.capacity { try flush() }
    }

    /// A list's failure: every call after it throws it too, until
    /// `discardQueued` (a `try?` close that ran the list must not swallow it).
    private var listFailure: Error?

    /// Runs the queued calls, in order; throws the first failure, and then
    /// again for every call until `discardQueued`.
    public func flush() throws {
        if let f = listFailure { throw f }
        guard let program, !queued.isEmpty else { return }
        let calls = queued
        queued = []
        do { try run(calls, program) } catch {
            listFailure = error
            throw error
        }
    }

    private func run(_ calls: [(call: SyscallProgram.Call, name: () -> String)], _ program: (code: UInt64, table: UInt64, capacity: Int)) throws {
        let memory = RemoteMemory(pid: tid)
        var start = 0
        while start < calls.count {
            let chunk = calls[start..<min(calls.count, start + program.capacity)]
            start += chunk.count
            try memory.write(address: program.table, bytes: SyscallProgram.table(chunk.map(\.call)))
            try runProgram(program.code)
            let results = SyscallProgram.results(try memory.read(address: program.table, count: chunk.count * SyscallProgram.entrySize), count: chunk.count)
            for (k, r) in zip(chunk.indices, results) {
                guard let r else { throw SystemCallError("injection in \(tid): \(calls[k].name()) did not run", .ioError) }
                if r < 0 && r > -4096 { throw SystemCallError("\(calls[k].name()) in \(tid)", Errno(rawValue: Int32(-r))) }
            }
        }
    }

    /// Drops the queued calls and a list's failure (the caller has it: the restore that queued them failed).
    public func discardQueued() {
        queued = []
        listFailure = nil
    }

    /// Runs SyscallProgram.code at `code` over the table at program.table,
    /// until its int3: the thread runs on its own (PTRACE_CONT), no stop per call.
    private func runProgram(_ code: UInt64) throws {
        guard returnTrampoline == nil, let program else {
            throw SystemCallError("injection in \(tid): a call list needs a thread of the restore's own", .invalidArgument)
        }
        var regs = template
        regs.rbx = program.table
        regs.rip = code
        regs.orig_rax = UInt64.max  // no syscall-restart fixups
        // The loop's int3 is a forced SIGTRAP: the kernel unblocks it (and
        // sets its action to the default). The mask goes back as it was; the
        // action is the stub's own default as long as lists run before the
        // handlers are restored (SyscallProgram).
        let mask = try Ptrace.signalMask(tid)
        try Ptrace.setRegisters(tid, regs)
        let trap = code + UInt64(SyscallProgram.trapOffset) + 1
        try resume({ try Ptrace.cont(tid, signal: $0) }, what: "the call list at 0x\(String(code, radix: 16))", faults: [SIGSEGV, SIGBUS, SIGILL, SIGTRAP]) { outcome in
            guard case .stopped(_, SIGTRAP, 0) = outcome else { return false }
            return try Ptrace.registers(tid).rip == trap
        }
        try Ptrace.setSignalMask(tid, mask)
    }

    private func runToSyscallStop() throws {
        // The injected instruction itself may fault (not mapped here): the fault would only come again.
        try resume({ try Ptrace.toSyscall(tid, signal: $0) }, what: "the call at 0x\(String(instruction, radix: 16))", faults: [SIGSEGV, SIGBUS, SIGILL]) { outcome in
            if case .syscallStop = outcome { return true }
            return false
        }
    }

    /// Resumes the thread with `how` until `arrived` takes a stop: a fork,
    /// vfork or clone event names the new task; a group stop or interrupt
    /// goes on; a signal-delivery stop is held (re-queued by the caller), and
    /// one of `faults` more than three times ends it, as an exit or kill does.
    private func resume(_ how: (Int32) throws -> Void, what: String, faults watched: Set<Int32>,
                        until arrived: (WaitOutcome) throws -> Bool) throws {
        var faults = 0
        while true {
            try how(0)
            let outcome = try Ptrace.waitSoon(tid)
            if try arrived(outcome) { return }
            switch outcome {
            case .syscallStop:
                continue
            case .stopped(_, let sig, let event):
                if (1...3).contains(event) { lastNewTask = pid_t(truncatingIfNeeded: try Ptrace.eventMessage(tid)) }
                if event == 0 && sig != SIGTRAP { heldSignals.append(sig) }
                if event == 0 && watched.contains(sig) {
                    faults += 1
                    if faults > 3 { throw SystemCallError("injection in \(tid): \(what) faults with signal \(sig)", .badAddress) }
                }
            case .exited(_, let code):
                throw SystemCallError("injection in \(tid) (\(what)): the process exited with \(code)", .noSuchProcess)
            case .killed(_, let sig):
                throw SystemCallError("injection in \(tid) (\(what)): the process was killed by signal \(sig)", .noSuchProcess)
            }
        }
    }

    /// Finds a `syscall` instruction usable for injection: right behind rip when
    /// the thread sits in a system call, else anywhere in the vDSO, else (a
    /// process that unmapped its vDSO, or a kernel booted with vdso=0) in
    /// its readable executable mappings, file-backed first: the CPU decodes
    /// 0f 05 as syscall wherever rip points, even inside another instruction.
    public static func findInstruction(pid: pid_t, registers: Registers, maps: [MapsEntry]) throws -> UInt64 {
        let memory = RemoteMemory(pid: pid)
        if Int64(bitPattern: registers.orig_rax) >= 0, registers.rip >= 2,
           let bytes = try? memory.read(address: registers.rip - 2, count: 2), bytes == [0x0f, 0x05] {
            return registers.rip - 2
        }
        let code = maps.filter { $0.path == "[vdso]" }
            + maps.filter { $0.path != "[vdso]" && $0.executable && $0.readable && !$0.isKernelSpecial }.sorted { $0.isFileBacked && !$1.isFileBacked }
        var budget = 64 << 20  // bytes read at most
        for m in code {
            var at = m.start
            while at < m.end && budget > 0 {
                let count = Int(min(m.end - at, 1 << 20))
                guard let bytes = try? memory.read(address: at, count: count + (at + UInt64(count) < m.end ? 1 : 0)) else { break }
                budget -= count
                for i in 0..<max(0, bytes.count - 1) where bytes[i] == 0x0f && bytes[i + 1] == 0x05 {
                    return at + UInt64(i)
                }
                at += UInt64(count)
            }
        }
        throw SystemCallError("no syscall instruction found in process \(pid): no vDSO, and none in its executable memory", .execFormatError)
    }
}
