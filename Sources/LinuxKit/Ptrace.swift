import CLinux
import Glibc
import SystemPackage

/// General purpose registers as PTRACE_GETREGS returns them (`user_regs_struct`).
public typealias Registers = user_regs_struct

/// How a traced thread is stopped, decoded from a waitpid status.
public enum WaitOutcome: Equatable {
    case exited(pid: pid_t, code: Int32)
    case killed(pid: pid_t, signal: Int32)
    /// A ptrace stop: `signal` is the stopping signal, `event` the PTRACE_EVENT (0 if none).
    case stopped(pid: pid_t, signal: Int32, event: Int32)
    /// A syscall-entry or syscall-exit stop (PTRACE_O_TRACESYSGOOD).
    case syscallStop(pid: pid_t)

    public var pid: pid_t {
        switch self {
        case .exited(let p, _), .killed(let p, _), .stopped(let p, _, _), .syscallStop(let p): return p
        }
    }
}

/// Typed ptrace requests. The corresponding C function is `ptrace`.
public enum Ptrace {
    /// Every request, named once: the C library's where it has them, CLinux's (from linux/ptrace.h) otherwise.
    struct Request {
        let name: String
        let value: Int
        static let seize = Request(name: "PTRACE_SEIZE", value: Int(CL_PTRACE_SEIZE))
        static let setOptions = Request(name: "PTRACE_SETOPTIONS", value: Int(PTRACE_SETOPTIONS.rawValue))
        static let getEventMessage = Request(name: "PTRACE_GETEVENTMSG", value: Int(CL_PTRACE_GETEVENTMSG))
        static let interrupt = Request(name: "PTRACE_INTERRUPT", value: Int(CL_PTRACE_INTERRUPT))
        static let detach = Request(name: "PTRACE_DETACH", value: Int(PTRACE_DETACH.rawValue))
        static let cont = Request(name: "PTRACE_CONT", value: Int(PTRACE_CONT.rawValue))
        static let listen = Request(name: "PTRACE_LISTEN", value: Int(CL_PTRACE_LISTEN))
        static let syscall = Request(name: "PTRACE_SYSCALL", value: Int(PTRACE_SYSCALL.rawValue))
        static let getRegisters = Request(name: "PTRACE_GETREGS", value: Int(PTRACE_GETREGS.rawValue))
        static let setRegisters = Request(name: "PTRACE_SETREGS", value: Int(PTRACE_SETREGS.rawValue))
        static let getRegisterSet = Request(name: "PTRACE_GETREGSET NT_X86_XSTATE", value: Int(PTRACE_GETREGSET.rawValue))
        static let setRegisterSet = Request(name: "PTRACE_SETREGSET NT_X86_XSTATE", value: Int(PTRACE_SETREGSET.rawValue))
        static let getSignalMask = Request(name: "PTRACE_GETSIGMASK", value: Int(CL_PTRACE_GETSIGMASK))
        static let setSignalMask = Request(name: "PTRACE_SETSIGMASK", value: Int(CL_PTRACE_SETSIGMASK))
        static let peekSignalInfo = Request(name: "PTRACE_PEEKSIGINFO", value: Int(CL_PTRACE_PEEKSIGINFO))
        static let seccompFilter = Request(name: "PTRACE_SECCOMP_GET_FILTER", value: Int(CL_PTRACE_SECCOMP_GET_FILTER))
        static let seccompMetadata = Request(name: "PTRACE_SECCOMP_GET_METADATA", value: Int(CL_PTRACE_SECCOMP_GET_METADATA))
        static let rseqConfiguration = Request(name: "PTRACE_GET_RSEQ_CONFIGURATION", value: Int(CL_PTRACE_GET_RSEQ_CONFIGURATION))
        static let syscallInfo = Request(name: "PTRACE_GET_SYSCALL_INFO", value: Int(CL_PTRACE_GET_SYSCALL_INFO))
    }

    static func call(_ request: Request, _ pid: pid_t, _ addr: UnsafeMutableRawPointer?, _ data: UnsafeMutableRawPointer?) throws -> Int {
        try valueOrThrow("ptrace(\(request.name), \(pid))") { cl_ptrace(request.value, pid, addr, data) }
    }

    public static func seize(_ pid: pid_t, options: Int = PtraceOption.traceSysGood) throws {
        _ = try call(.seize, pid, nil, UnsafeMutableRawPointer(bitPattern: options))
    }

    public static func setOptions(_ pid: pid_t, _ options: Int) throws {
        _ = try call(.setOptions, pid, nil, UnsafeMutableRawPointer(bitPattern: options))
    }

    /// A thread's robust futex list (get_robust_list works on another same-user thread).
    public static func robustList(_ tid: pid_t) throws -> (head: UInt64, length: UInt64) {
        var head: UInt64 = 0, length: UInt64 = 0
        _ = try withUnsafeMutablePointer(to: &head) { h in
            try withUnsafeMutablePointer(to: &length) { l in
                try rawSyscall("get_robust_list(\(tid))", NR.get_robust_list, Int(tid), Int(bitPattern: h), Int(bitPattern: l))
            }
        }
        return (head, length)
    }

    /// PTRACE_GETEVENTMSG: after a fork/clone event, the new task's ID as the tracer sees it.
    public static func eventMessage(_ pid: pid_t) throws -> UInt {
        var message: UInt = 0
        _ = try call(.getEventMessage, pid, nil, &message)
        return message
    }

    public static func interrupt(_ pid: pid_t) throws {
        _ = try call(.interrupt, pid, nil, nil)
    }

    public static func detach(_ pid: pid_t, signal: Int32 = 0) throws {
        _ = try call(.detach, pid, nil, UnsafeMutableRawPointer(bitPattern: Int(signal)))
    }

    public static func cont(_ pid: pid_t, signal: Int32 = 0) throws {
        _ = try call(.cont, pid, nil, UnsafeMutableRawPointer(bitPattern: Int(signal)))
    }

    /// A seized tracee in a group stop stays stopped but may be woken by SIGCONT (ptrace(2)).
    public static func listen(_ pid: pid_t) throws {
        _ = try call(.listen, pid, nil, nil)
    }

    /// Resume until the next syscall entry or exit.
    public static func toSyscall(_ pid: pid_t, signal: Int32 = 0) throws {
        _ = try call(.syscall, pid, nil, UnsafeMutableRawPointer(bitPattern: Int(signal)))
    }

    public static func registers(_ pid: pid_t) throws -> Registers {
        var regs = Registers()
        _ = try call(.getRegisters, pid, nil, &regs)
        return regs
    }

    /// Sets all general purpose registers, fs_base and gs_base included.
    public static func setRegisters(_ pid: pid_t, _ regs: Registers) throws {
        var r = regs
        _ = try call(.setRegisters, pid, nil, &r)
    }

    /// The xsave area (x87, SSE, AVX, AVX-512...), sized as the kernel reports.
    public static func extendedState(_ pid: pid_t) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 16384)
        let length = try buffer.withUnsafeMutableBytes { (raw) throws -> Int in
            var iov = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
            _ = try call(.getRegisterSet, pid,
                         UnsafeMutableRawPointer(bitPattern: Int(CL_NT_X86_XSTATE)), &iov)
            return iov.iov_len
        }
        return Array(buffer[0..<length])
    }

    public static func setExtendedState(_ pid: pid_t, _ state: [UInt8]) throws {
        var copy = state
        try copy.withUnsafeMutableBytes { (raw) throws in
            var iov = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
            _ = try call(.setRegisterSet, pid,
                         UnsafeMutableRawPointer(bitPattern: Int(CL_NT_X86_XSTATE)), &iov)
        }
    }

    public static func signalMask(_ pid: pid_t) throws -> UInt64 {
        var mask: UInt64 = 0
        _ = try call(.getSignalMask, pid, UnsafeMutableRawPointer(bitPattern: 8), &mask)
        return mask
    }

    public static func setSignalMask(_ pid: pid_t, _ mask: UInt64) throws {
        var m = mask
        _ = try call(.setSignalMask, pid, UnsafeMutableRawPointer(bitPattern: 8), &m)
    }

    /// Pending signals with their siginfo, per thread or process-wide (`shared`).
    public static func pendingSignals(_ pid: pid_t, shared: Bool) throws -> [siginfo_t] {
        var result: [siginfo_t] = []
        while true {
            struct Args { var off: UInt64; var flags: UInt32; var nr: Int32 }
            var args = Args(off: UInt64(result.count), flags: shared ? UInt32(CL_PTRACE_PEEKSIGINFO_SHARED) : 0, nr: 32)
            var batch = [siginfo_t](repeating: siginfo_t(), count: 32)
            let n = try batch.withUnsafeMutableBytes { (raw) throws -> Int in
                try call(.peekSignalInfo, pid, &args, raw.baseAddress)
            }
            if n <= 0 { break }
            result.append(contentsOf: batch[0..<n])
            if n < 32 { break }
        }
        return result
    }

    /// The thread's seccomp filters, newest first, each as flags (u64) then its
    /// BPF instructions (PTRACE_SECCOMP_GET_FILTER/METADATA; needs CAP_SYS_ADMIN).
    public static func seccompFilters(_ tid: pid_t) throws -> [[UInt8]] {
        var filters: [[UInt8]] = []
        for index in 0..<4096 {
            let count: Int
            do {
                count = try call(.seccompFilter, tid, UnsafeMutableRawPointer(bitPattern: index), nil)
            } catch let e as SystemCallError where e.errno == .noSuchFileOrDirectory {
                break  // past the oldest filter
            }
            guard count > 0 && count <= 4096 else { break }
            var program = [UInt8](repeating: 0, count: count * 8)
            _ = try program.withUnsafeMutableBytes { try call(.seccompFilter, tid, UnsafeMutableRawPointer(bitPattern: index), $0.baseAddress) }
            var metadata: (UInt64, UInt64) = (UInt64(index), 0)  // filter_off, flags
            _ = try? call(.seccompMetadata, tid, UnsafeMutableRawPointer(bitPattern: 16), &metadata)
            filters.append(withUnsafeBytes(of: metadata.1.littleEndian) { Array($0) } + program)
        }
        return filters
    }

    /// The thread's registered rseq area, if any (PTRACE_GET_RSEQ_CONFIGURATION).
    public static func rseqConfiguration(_ pid: pid_t) throws -> cl_rseq_configuration {
        var conf = cl_rseq_configuration()
        _ = try call(.rseqConfiguration, pid,
                     UnsafeMutableRawPointer(bitPattern: MemoryLayout<cl_rseq_configuration>.size), &conf)
        return conf
    }

    /// At a syscall-exit stop, the call's result (a negated errno on
    /// failure); nil at any other stop (a syscall entry among them).
    public static func syscallExitValue(_ pid: pid_t) throws -> Int64? {
        var info = cl_ptrace_syscall_exit_info()
        _ = try call(.syscallInfo, pid, UnsafeMutableRawPointer(bitPattern: MemoryLayout<cl_ptrace_syscall_exit_info>.size), &info)
        return info.op == UInt8(CL_PTRACE_SYSCALL_INFO_EXIT) ? info.rval : nil
    }

    /// waitpid with __WALL, retried on EINTR; returns a killed leader's death
    /// even when its other traced threads were not waited for (DyingGroupReaper).
    public static func wait(_ pid: pid_t) throws -> WaitOutcome {
        var status: Int32 = 0
        let got = try DyingGroupReaper.waiting(on: pid) {
            try valueOrThrow("waitpid(\(pid))") { Glibc.waitpid(pid, &status, __WALL) }
        }
        return decode(pid: got, status: status)
    }

    /// As `wait`, for a stop expected within microseconds (an injected
    /// call's): polls for up to `spin` nanoseconds first, yielding the CPU
    /// between looks. Sleeping in waitpid costs a wakeup on each side of
    /// every round trip, and when the tracee runs on the other CPU each
    /// wakeup is an interprocessor interrupt to a halted CPU (in a VM, an
    /// exit to the host): an injected call took 100 µs so on this machine's
    /// VM, 30 µs polling; on one CPU the yield lets the tracee run at once.
    public static func waitSoon(_ pid: pid_t, spin: UInt64 = 200_000) throws -> WaitOutcome {
        let deadline = monotonicNanos() &+ spin
        var status: Int32 = 0
        repeat {
            let got = Glibc.waitpid(pid, &status, __WALL | WNOHANG)
            if got > 0 { return decode(pid: got, status: status) }
            if got < 0 && errno != EINTR { throw SystemCallError("waitpid(\(pid))", Errno(rawValue: errno)) }
            sched_yield()
        } while monotonicNanos() < deadline
        return try wait(pid)
    }

    static func monotonicNanos() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }

    public static func decode(pid: pid_t, status: Int32) -> WaitOutcome {
        let low = status & 0x7f
        if low == 0 { return .exited(pid: pid, code: (status >> 8) & 0xff) }
        if (status & 0xff) == 0x7f {
            let sig = (status >> 8) & 0xff
            if sig == (SIGTRAP | 0x80) { return .syscallStop(pid: pid) }
            return .stopped(pid: pid, signal: sig, event: (status >> 16) & 0xff)
        }
        return .killed(pid: pid, signal: low)
    }
}
