import CheckpointImage
import Glibc
import LinuxKit

/// Which PAGES sections a lazy restore (cr_restart --lazy) leaves missing
/// until the restored process touches them or the background pass comes.
/// Only private anonymous memory may stay missing (userfaultfd's missing
/// mode covers it; file and shared memory are written first, as is locked
/// memory, which mlock() would fault in during the restore itself). So are
/// the pages the process runs on first: around each thread's stack pointer,
/// its TLS and rseq area. Processes that share pages with a parent or child
/// by copy-on-write restore eagerly: the fork that shares them needs them present.
struct LazyPlan {
    /// Image PID -> the mapping ranges whose pages may stay missing.
    let eligible: [pid_t: [(start: UInt64, end: UInt64)]]
    /// Image PID -> hot windows, whose sections are written before the process runs.
    let hot: [pid_t: [(start: UInt64, end: UInt64)]]

    static let stackBelow: UInt64 = 256 << 10, stackAbove: UInt64 = 64 << 10, tlsAround: UInt64 = 16 << 10

    init(processes: [ProcessState], cowShared: Set<pid_t>) {
        var eligible: [pid_t: [(start: UInt64, end: UInt64)]] = [:]
        var hot: [pid_t: [(start: UInt64, end: UInt64)]] = [:]
        for p in processes where !cowShared.contains(p.pid) {
            eligible[p.pid] = p.mappings.filter { m in
                m.kind == .anonymous && !m.shared && m.inheritedRuns.isEmpty && !m.advice.contains(.locked) && !m.advice.contains(.droppable)
                    && m.hugePageSize == 0  // UFFDIO_COPY fills a hugetlb area a whole huge page at a time: eager
                    && !m.advice.contains(.sealed)
            }.map { ($0.start, $0.end) }
            hot[p.pid] = p.threads.flatMap { t -> [(start: UInt64, end: UInt64)] in
                let regs = RegisterFile.registers(from: t.registers)
                var windows = [(regs.rsp &- Self.stackBelow, regs.rsp &+ Self.stackAbove),
                               (regs.fs_base &- Self.tlsAround, regs.fs_base &+ Self.tlsAround)]
                if let r = t.rseq { windows.append((r.address & ~4095, (r.address & ~4095) + 4096)) }
                return windows.filter { $0.0 < $0.1 }
            }
        }
        self.eligible = eligible
        self.hot = hot
    }

    /// A section may stay missing: every run inside one eligible range, none in a hot window.
    func mayWait(_ s: ImageReader.PagesSection) -> Bool {
        guard let ranges = eligible[s.pid], !ranges.isEmpty else { return false }
        let windows = hot[s.pid] ?? []
        return s.runs.allSatisfy { run in
            ranges.contains { run.address >= $0.start && run.end <= $0.end } && !windows.contains { run.address < $0.end && run.end > $0.start }
        }
    }

    /// The processes that share pages by copy-on-write with a parent or child in the image.
    static func cowShared(_ processes: [ProcessState]) -> Set<pid_t> {
        let children = Set(processes.filter { p in p.mappings.contains { !$0.inheritedRuns.isEmpty } }.map(\.pid))
        let parents = Set(processes.filter { children.contains($0.pid) }.map(\.ppid))
        return children.union(parents)
    }
}
