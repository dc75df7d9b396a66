import Glibc
import Synchronization
import LinuxKit

/// Keeps a tracer on the CPU of the tasks it drives: an injected system call
/// is two round trips between tracer and tracee, about 11 µs when they share
/// a CPU and several times that across CPUs (each wakeup an interprocessor
/// interrupt, and in a VM an exit to the host). Only the tracer's own
/// affinity is set to follow a target (a checkpoint changes nothing of its
/// targets); the restorer pins its stubs too, which it makes and lets go.
struct CPUPin {
    var original = [UInt64](repeating: 0, count: 16)
    var pinned = false
    /// Our threads at the first pin: any made since by a pinned thread
    /// (a pool thread libdispatch starts for work queued from it, which may
    /// find that work taken and idle) inherited the one CPU.
    private var threadsBefore: Set<pid_t> = []

    /// The calling thread on the CPU it runs on now.
    mutating func pinCurrentCPU() {
        guard let cpu = Syscall.currentCPU() else { return }
        pinCurrentThread(to: cpu)
    }

    /// The calling thread on `cpu` alone (where a target last ran); its
    /// affinity before the first pin is kept for `unpinCurrentThread`.
    mutating func pinCurrentThread(to cpu: Int) {
        guard cpu >= 0, cpu < 1024 else { return }
        if !pinned {
            guard Syscall.affinity(of: 0, into: &original) > 0 else { return }
            Self.unpinned.withLock { if $0 == nil { $0 = original } }
            threadsBefore = Set((try? Sys.numericEntries("/proc/self/task")) ?? [])
        }
        // A CPU this thread may not use (started under taskset) is left alone.
        guard original[cpu / 64] & (UInt64(1) << UInt64(cpu % 64)) != 0 else { return }
        var one = [UInt64](repeating: 0, count: 16)
        one[cpu / 64] = UInt64(1) << UInt64(cpu % 64)
        if Syscall.setAffinity(of: 0, one) { pinned = true }
    }

    /// The calling thread back on every CPU it had.
    func unpinCurrentThread() {
        guard pinned else { return }
        _ = Syscall.setAffinity(of: 0, original)
        freeThreadsBornPinned()
    }

    func release(_ pids: [pid_t]) {
        guard pinned else { return }
        for p in pids + [0] {
            _ = Syscall.setAffinity(of: p, original)
        }
        freeThreadsBornPinned()
    }

    /// Threads made while pinned that still have one CPU get every CPU
    /// back: none of ours pins itself, and an idle pool thread left on the
    /// tracer's CPU would later run whatever the pool gives it there.
    private func freeThreadsBornPinned() {
        var mask = [UInt64](repeating: 0, count: 16)
        for tid in (try? Sys.numericEntries("/proc/self/task")) ?? [] where !threadsBefore.contains(tid) {
            guard Syscall.affinity(of: tid, into: &mask) > 0, mask != original,
                  mask.reduce(0, { $0 + $1.nonzeroBitCount }) == 1 else { continue }
            _ = Syscall.setAffinity(of: tid, original)
        }
    }

    /// As `release`, for good: later calls do nothing, so threads given an
    /// affinity of their own since (a restored thread's) keep it.
    mutating func releaseForGood(_ pids: [pid_t]) {
        release(pids)
        pinned = false
    }

    /// The affinity threads had before any was pinned (the first pin's).
    private static let unpinned = Mutex<[UInt64]?>(nil)

    /// Gives the calling pool thread every CPU the process had, once any
    /// thread was pinned: run first by work that must run beside the pinned
    /// thread (the image writer and reader, workers, scans), whichever pool
    /// thread it lands on.
    @Sendable static func freePoolThread() {
        guard let all = unpinned.withLock({ $0 }) else { return }
        _ = Syscall.setAffinity(of: 0, all)
    }

    /// Runs `body` on a pool thread kept off `cpu`, then gives that thread
    /// every CPU the process had: a dispatch thread made by a pinned thread
    /// inherits its one CPU, and would keep it for whatever the pool runs on
    /// it later (the dump's writer, sharing the reader's CPU).
    static func off(_ cpu: Int?, _ body: () -> Void) {
        var now = [UInt64](repeating: 0, count: 16)
        let all = unpinned.withLock { $0 } ?? (Syscall.affinity(of: 0, into: &now) > 0 ? now : nil)
        guard let all else { return body() }
        var others = all
        if let cpu, cpu >= 0, cpu < 1024 { others[cpu / 64] &= ~(UInt64(1) << UInt64(cpu % 64)) }
        if !others.contains(where: { $0 != 0 }) { others = all }
        _ = Syscall.setAffinity(of: 0, others)
        body()
        _ = Syscall.setAffinity(of: 0, all)
    }
}
