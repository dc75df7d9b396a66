import Dispatch
import Glibc
import LinuxKit

/// The incremental checkpoint's PAGEMAP_SCAN, started on a thread of its
/// own as soon as the process is frozen, while the collection reads
/// /proc/PID/smaps (both walk every page table: about 25 and 35 ms for
/// 2 GiB here, so the frozen time saves the shorter). It needs no mapping
/// list: one scan of the whole address space, in which the kernel skips
/// the mappings not registered for asynchronous write protection, and
/// protects again the written pages it reports. The plan later splits the
/// runs by mapping (IncrementalPlan.scan(pid:maps:registered:prescanned:)).
///
/// The collection may write into the process meanwhile (injection frames
/// below the stack's red zone): such a page is either reported written and
/// saved, or left to the parent, whose bytes are the program's there.
/// A mapping the program registered for asynchronous write protection
/// itself is protected again too (the plan then saves it whole).
final class TrackedScan: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var regions: [Pagemap.Region] = []
    private var failure: Error?
    private var waited = false

    /// The written pages, copied while the collection goes on (with a staging area).
    private var copied: PrefetchedPages?

    init(pid: pid_t, staging: StagingArea? = nil) {
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            CPUPin.freePoolThread()
            do {
                let pagemap = try Pagemap(pid: pid)
                defer { pagemap.close() }
                let (low, high) = try Self.addressSpan(pid)
                if low < high {
                    regions = try pagemap.scan(start: low, end: high, anyOf: [.present, .swapped], protect: true, onlyTracked: true)
                }
                if let staging, !IncrementalPlan.hasChildren(pid) {
                    copied = PrefetchedPages.copy(regions, pid: pid, into: staging)
                }
            } catch {
                failure = error
            }
            done.signal()
        }
    }

    /// The runs found, by address; waits for the scan.
    func result() throws -> [Pagemap.Region] {
        wait()
        if let failure { throw failure }
        return regions
    }

    /// The written pages copied beside the collection, if any; waits for the scan.
    func prefetched() -> PrefetchedPages? {
        wait()
        return failure == nil ? copied : nil
    }

    /// Waits for the scan to end (before the process is thawed, whatever happened).
    func wait() {
        guard !waited else { return }
        done.wait()
        waited = true
    }

    /// From the first mapping's start to the last one's end in the user
    /// half (the vsyscall page lies above it), from /proc/PID/maps, which
    /// costs no page walk.
    static func addressSpan(_ pid: pid_t) throws -> (UInt64, UInt64) {
        var low = UInt64.max, high: UInt64 = 0
        for line in try Sys.readText("/proc/\(pid)/maps").split(separator: "\n") {
            let range = line.prefix { $0 != " " }.split(separator: "-")
            guard range.count == 2, let s = UInt64(range[0], radix: 16), let e = UInt64(range[1], radix: 16), e <= 1 << 57 else { continue }
            low = min(low, s)
            high = max(high, e)
        }
        return (low, high)
    }
}
