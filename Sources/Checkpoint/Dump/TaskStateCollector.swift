import CLinux
import CheckpointImage
import Glibc
import LinuxKit

/// State only the process itself can tell: read by system calls injected into
/// its stopped thread, through a scratch page mapped for the purpose.
struct TaskStateCollector {
    struct Result {
        var actions: [ProcessState.SignalAction] = []
        var altStack = ThreadState.AltStack(base: 0, flags: 2, size: 0)
        var brk: UInt64 = 0
        var tidAddress: UInt64 = 0
        var dumpable: UInt64 = 1
        var parentDeathSignal: UInt64 = 0
        var personality: UInt64 = 0
    }

    static let scratchSize = 16384

    static func collect(_ session: RemoteSession) throws -> Result {
        let mmapResult = try session.call("mmap(scratch)", NR.mmap, 0, UInt64(scratchSize), UInt64(PROT_READ | PROT_WRITE),
                                          UInt64(MAP_PRIVATE | MAP_ANONYMOUS), UInt64.max, 0)
        session.scratch = mmapResult
        session.scratchSize = scratchSize
        defer {
            _ = try? session.call("munmap(scratch)", NR.munmap, mmapResult, UInt64(scratchSize))
            session.scratch = 0
        }
        var r = Result()
        let s = session.scratch
        for sig in 1...64 {
            try session.call("rt_sigaction(\(sig))", NR.rt_sigaction, UInt64(sig), 0, s + UInt64((sig - 1) * 32), 8)
        }
        let table = try session.memory.read(address: s, count: 64 * 32)
        for sig in 1...64 {
            let a = table.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: (sig - 1) * 32, as: cl_kernel_sigaction.self) }
            r.actions.append(.init(signal: Int32(sig), handler: a.handler, flags: a.flags, restorer: a.restorer, mask: a.mask))
        }
        try session.call("sigaltstack", NR.sigaltstack, 0, s + 4096)
        let ss = try session.get(cl_stack.self, at: 4096)
        r.altStack = .init(base: ss.ss_sp, flags: ss.ss_flags, size: ss.ss_size)
        r.brk = try session.call("brk(0)", NR.brk, 0)
        try session.call("prctl(PR_GET_TID_ADDRESS)", NR.prctl, UInt64(PR_GET_TID_ADDRESS), s + 4200)
        r.tidAddress = try session.get(UInt64.self, at: 4200)
        r.dumpable = try session.call("prctl(PR_GET_DUMPABLE)", NR.prctl, UInt64(PR_GET_DUMPABLE))
        try session.call("prctl(PR_GET_PDEATHSIG)", NR.prctl, UInt64(PR_GET_PDEATHSIG), s + 4208)
        r.parentDeathSignal = UInt64(try session.get(Int32.self, at: 4208))
        r.personality = try session.call("personality", NR.personality, 0xffff_ffff)
        return r
    }
}
