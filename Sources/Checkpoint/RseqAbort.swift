import Glibc
import LinuxKit

/// A thread stopped inside an rseq critical section goes to the section's
/// abort handler when it next returns to user space: it was scheduled out
/// there, and the kernel's rseq fixup sends it to abort_ip. Injected calls
/// return it to user space somewhere else first, where the same fixup only
/// clears rseq_cs: the thread would then finish a critical section that lost
/// its protection, live or after a restart. So the freezer takes the
/// kernel's step itself, before anything runs in the thread: its rip
/// becomes abort_ip (what the fixup would make it; rseq_cs is cleared by the
/// kernel at the next return). A section the kernel would refuse (bad
/// descriptor, deprecated no-restart flags, wrong signature) is left to it.
enum RseqAbort {
    /// The abort handler `tid` resumes at if it stopped inside a critical section, else nil.
    static func handler(_ tid: pid_t, rip: UInt64) -> UInt64? {
        guard let conf = try? Ptrace.rseqConfiguration(tid), conf.rseq_abi_pointer != 0 else { return nil }
        let memory = RemoteMemory(pid: tid)
        // struct rseq: cpu_id_start, cpu_id (u32 each), rseq_cs (u64), flags (u32).
        guard let area = try? memory.read(address: conf.rseq_abi_pointer, count: 20) else { return nil }
        let descriptor = word(area, 8), areaFlags = half(area, 16)
        guard descriptor != 0, let cs = try? memory.read(address: descriptor, count: 32) else { return nil }
        // struct rseq_cs: version, flags (u32 each), start_ip, post_commit_offset, abort_ip.
        let version = half(cs, 0), csFlags = half(cs, 4)
        let start = word(cs, 8), length = word(cs, 16), abort = word(cs, 24)
        let userTop: UInt64 = 1 << 56  // above any user address (5-level paging included)
        guard version == 0, start < userTop, length < userTop - start, abort < userTop, abort >= 4 else { return nil }
        guard abort &- start >= length, rip &- start < length else { return nil }  // abort outside, rip inside
        let noRestart: UInt32 = 0x7  // RSEQ_CS_FLAG_NO_RESTART_ON_{PREEMPT,SIGNAL,MIGRATE}: the kernel kills for these
        guard (csFlags | areaFlags) & noRestart == 0 else { return nil }
        guard let signature = try? memory.read(address: abort - 4, count: 4),
              half(signature, 0) == conf.signature else { return nil }
        return abort
    }

    private static func half(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        guard at + 4 <= bytes.count else { return 0 }
        return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    }

    private static func word(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        guard at + 8 <= bytes.count else { return 0 }
        return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
    }
}
