import CheckpointImage
import Glibc
import LinuxKit

/// Memory an incremental checkpoint copies the written pages into while the
/// processes are frozen, so that they run on before the pages reach the
/// image. Made and faulted in before the freeze: copying into memory
/// already in place is several times faster than writing to a file, whose
/// pages the kernel allocates during the write (100 MiB here: 5 ms copied,
/// 35-40 ms written to tmpfs), and huge pages make the faulting-in itself
/// cheap (9 ms instead of 36 for 100 MiB).
final class StagingArea: @unchecked Sendable {
    private let buffer: HugePageBuffer
    private var used = 0
    /// Scans of several processes take from it at once (PrefetchedPages).
    private let lock = NSLockLite()

    /// Nil when the memory cannot be had (the checkpoint then writes as it reads).
    init?(byteCount: Int) {
        guard byteCount > 0 else { return nil }
        buffer = HugePageBuffer(byteCount: byteCount)
        guard let base = buffer.bytes.baseAddress,
              madvise(base, buffer.bytes.count, 23 /* MADV_POPULATE_WRITE */) == 0 else { return nil }
    }

    /// Bytes not taken yet.
    var room: Int { lock.withLock { buffer.bytes.count - used } }

    /// The next `count` bytes, or nil when the area is full.
    func take(_ count: Int) -> UnsafeMutableRawBufferPointer? {
        lock.withLock {
            guard count <= buffer.bytes.count - used else { return nil }
            defer { used += count }
            return UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[used..<(used + count)])
        }
    }

    /// At most a quarter of the memory available now, and 1 GiB: staging
    /// must not push the machine into reclaim (or the target into swap).
    static func budget() -> Int {
        let available = (try? Sys.readText("/proc/meminfo"))?.split(separator: "\n")
            .first { $0.hasPrefix("MemAvailable:") }
            .flatMap { line in line.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? 0
        return min(1 << 30, available * 1024 / 4)
    }

    /// Bytes written since write tracking last protected `pid`'s pages: a
    /// scan that protects nothing, made while the process still runs, so
    /// the staging area is sized before the freeze.
    static func writtenBytes(_ pid: pid_t) -> Int {
        guard let pagemap = try? Pagemap(pid: pid) else { return 0 }
        defer { pagemap.close() }
        guard let (low, high) = try? TrackedScan.addressSpan(pid), low < high,
              let regions = try? pagemap.scan(start: low, end: high, anyOf: [.written], onlyTracked: true) else { return 0 }
        return Int(regions.reduce(UInt64(0)) { $0 + ($1.end - $1.start) })
    }
}
