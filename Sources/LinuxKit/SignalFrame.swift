import CLinux
import Glibc

/// An x86_64 rt_sigreturn frame built by hand: written below a stopped
/// thread's stack pointer, it lets the thread put back its own registers,
/// signal mask and FPU state with one rt_sigreturn, with no tracer needed.
/// That is what makes injection safe against a tracer killed at any instant.
public enum SignalFrame {
    /// `mov $15, %rax; syscall` (glibc's and Go's __restore_rt) and `mov $15, %eax; syscall`.
    public static let trampolinePatterns: [[UInt8]] = [
        [0x48, 0xC7, 0xC0, 0x0F, 0x00, 0x00, 0x00, 0x0F, 0x05],
        [0xB8, 0x0F, 0x00, 0x00, 0x00, 0x0F, 0x05],
    ]

    /// Offset of the first occurrence of `pattern` in `bytes` (memmem: a
    /// first-byte scan stops every few bytes in code, where 0x48 is common).
    public static func firstIndex(of pattern: [UInt8], in bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBytes { hay in
            pattern.withUnsafeBytes { needle in
                guard let h = hay.baseAddress, let n = needle.baseAddress, needle.count > 0,
                      let hit = memmem(h, hay.count, n, needle.count) else { return nil }
                return h.distance(to: UnsafeRawPointer(hit))
            }
        }
    }

    /// Where the frame's pieces go, below `rsp` and its 128-byte red zone.
    public struct Placement: Equatable, Sendable {
        /// The rt_sigframe; rt_sigreturn wants rsp = frame + 8.
        public var frame: UInt64
        /// The xsave area (64-byte aligned), followed by FP_XSTATE_MAGIC2.
        public var fpstate: UInt64
        /// Free memory for the injected calls' arguments, below the frame.
        public var scratch: UInt64
        /// One past the magic word: the bytes [frame, end) are written.
        public var end: UInt64
    }

    public static func place(below rsp: UInt64, xstateSize: Int, scratchSize: Int) -> Placement? {
        let need = UInt64(128 + xstateSize + 4 + MemoryLayout<cl_rt_sigframe>.size + scratchSize + 256)
        guard rsp > need else { return nil }
        let fpstate = (rsp - 128 - UInt64(xstateSize) - 4) & ~63
        let frame = (fpstate - UInt64(MemoryLayout<cl_rt_sigframe>.size)) & ~63
        let scratch = (frame - UInt64(scratchSize)) & ~63
        return Placement(frame: frame, fpstate: fpstate, scratch: scratch, end: fpstate + UInt64(xstateSize) + 4)
    }

    /// The bytes of [placement.frame, placement.end): the frame returning to
    /// `registers` with `mask`, and `xsave` (the NT_X86_XSTATE regset, in the
    /// standard layout signal frames use) carrying the kernel's own frame
    /// description `sw`. The frame leaves the alternate signal stack alone:
    /// its uc_stack has invalid flags, and rt_sigreturn ignores that error.
    public static func encode(registers r: Registers, mask: UInt64, xsave: [UInt8], sw: cl_fpx_sw_bytes,
                              placement p: Placement) -> [UInt8]? {
        let xstateSize = Int(sw.xstate_size)
        guard xstateSize >= 576, xsave.count >= xstateSize, p.end == p.fpstate + UInt64(xstateSize) + 4 else { return nil }
        var f = cl_rt_sigframe()
        f.uc_flags = UInt64(CL_UC_FP_XSTATE | CL_UC_SIGCONTEXT_SS | CL_UC_STRICT_RESTORE_SS)
        f.uc_stack.ss_flags = 0x5A5A
        var c = cl_sigcontext()
        c.r8 = r.r8; c.r9 = r.r9; c.r10 = r.r10; c.r11 = r.r11
        c.r12 = r.r12; c.r13 = r.r13; c.r14 = r.r14; c.r15 = r.r15
        c.rdi = r.rdi; c.rsi = r.rsi; c.rbp = r.rbp; c.rbx = r.rbx
        c.rdx = r.rdx; c.rax = r.rax; c.rcx = r.rcx; c.rsp = r.rsp
        c.rip = r.rip; c.eflags = r.eflags
        c.cs = UInt16(truncatingIfNeeded: r.cs); c.ss = UInt16(truncatingIfNeeded: r.ss)
        c.fpstate = p.fpstate
        f.uc_mcontext = c
        f.uc_sigmask = mask
        var out = [UInt8](repeating: 0, count: Int(p.end - p.frame))
        withUnsafeBytes(of: f) { out.replaceSubrange(0..<$0.count, with: $0) }
        let fp = Int(p.fpstate - p.frame)
        out.replaceSubrange(fp..<(fp + xstateSize), with: xsave[0..<xstateSize])
        var swCopy = sw
        withUnsafeBytes(of: &swCopy) { out.replaceSubrange((fp + 464)..<(fp + 512), with: $0) }
        withUnsafeBytes(of: UInt32(CL_FP_XSTATE_MAGIC2).littleEndian) { out.replaceSubrange((fp + xstateSize)..<(fp + xstateSize + 4), with: $0) }
        return out
    }

    /// The registers a thread rests in between injected calls: about to run
    /// the trampoline's rt_sigreturn on the frame, with no syscall to restart.
    public static func resting(_ original: Registers, trampoline: UInt64, placement: Placement) -> Registers {
        var r = original
        r.rip = trampoline
        r.rsp = placement.frame + 8
        r.orig_rax = UInt64.max
        r.rax = 0
        return r
    }

    /// The kernel's description (magic, sizes, features) of the xsave area in
    /// the signal frames it builds on this machine, read from a signal sent
    /// to ourselves once. nil if it could not be seen (no XSAVE).
    public static let kernelSoftwareBytes: cl_fpx_sw_bytes? = readOwnFrame()

    private static func readOwnFrame() -> cl_fpx_sw_bytes? {
        let signal = SIGUSR2
        var action = sigaction(), old = sigaction()
        action.__sigaction_handler.sa_sigaction = { _, _, context in
            // glibc's ucontext_t: uc_mcontext.fpregs (the kernel's fpstate) is at byte 224.
            guard let context, let fpstate = context.load(fromByteOffset: 224, as: UnsafeRawPointer?.self),
                  let into = ownFrameCopy else { return }
            into.copyMemory(from: fpstate + 464, byteCount: 48)
        }
        action.sa_flags = SA_SIGINFO
        sigemptyset(&action.sa_mask)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 48, alignment: 8)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 48)
        ownFrameCopy = buffer
        defer { ownFrameCopy = nil }
        var unblock = sigset_t(), previous = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, signal)
        guard sigaction(signal, &action, &old) == 0 else { return nil }
        pthread_sigmask(SIG_UNBLOCK, &unblock, &previous)
        raise(signal)
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        sigaction(signal, &old, nil)
        let sw = buffer.load(as: cl_fpx_sw_bytes.self)
        guard sw.magic1 == UInt32(CL_FP_XSTATE_MAGIC1), sw.xstate_size >= 576, sw.extended_size >= sw.xstate_size + 4 else { return nil }
        return sw
    }
}

/// Where the signal handler above copies to; set only around the raise.
nonisolated(unsafe) private var ownFrameCopy: UnsafeMutableRawPointer?
