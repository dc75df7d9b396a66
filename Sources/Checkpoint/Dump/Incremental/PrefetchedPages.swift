import Glibc
import LinuxKit

/// The written pages an incremental checkpoint's scan found, copied into
/// the staging area by the scanning thread as soon as it has them, while
/// the collecting thread still reads /proc/PID/smaps and injects calls
/// (the two take about as long for a 2 GiB process, on the two cores).
/// The memory dump then takes its batches from here instead of reading
/// the process again.
///
/// Only for a process without children: a page it wrote since the last
/// protection is its own then (a write breaks copy-on-write sharing), and
/// reading it cannot unshare a page another process maps. What the
/// collection writes into the process meanwhile lies below a stack's red
/// zone, which the program does not read.
final class PrefetchedPages: @unchecked Sendable {
    struct Run { var address: UInt64; var length: Int; var offset: Int }
    /// By address, not overlapping; `offset` into `bytes`, in the same order.
    private let runs: [Run]
    private let bytes: UnsafeMutableRawBufferPointer

    var byteCount: Int { bytes.count }

    private init(runs: [Run], bytes: UnsafeMutableRawBufferPointer) {
        self.runs = runs
        self.bytes = bytes
    }

    /// Copies the scan's written pages of the program's own (present,
    /// not the file's, not the zero page), as many as the area holds.
    /// Nil when there are none, or the copy fails (the dump then reads them itself).
    static func copy(_ regions: [Pagemap.Region], pid: pid_t, into staging: StagingArea) -> PrefetchedPages? {
        var runs: [Run] = []
        var total = 0
        for r in regions {
            let c = r.categories
            guard c.contains(.present), c.contains(.written), !c.contains(.file), !c.contains(.zeroPage) else { continue }
            let length = Int(r.end - r.start)
            guard total + length <= staging.room else { break }
            runs.append(Run(address: r.start, length: length, offset: total))
            total += length
        }
        guard total > 0, let bytes = staging.take(total) else { return nil }
        do {
            try RemoteMemory(pid: pid).read(ranges: runs.map { ($0.address, $0.length) }, into: bytes)
        } catch {
            return nil
        }
        return PrefetchedPages(runs: runs, bytes: bytes)
    }

    /// Where the page range lies in the copy, if wholly inside one run.
    private func offset(of address: UInt64, _ length: Int) -> Int? {
        var low = 0, high = runs.count  // the first run ending after `address`
        while low < high {
            let mid = (low + high) / 2
            if runs[mid].address + UInt64(runs[mid].length) <= address { low = mid + 1 } else { high = mid }
        }
        guard low < runs.count, runs[low].address <= address,
              address + UInt64(length) <= runs[low].address + UInt64(runs[low].length) else { return nil }
        return runs[low].offset + Int(address - runs[low].address)
    }

    /// The copy of a batch's ranges where they lie one after another in it
    /// (the usual case: the dump's batches follow the scan's runs): no copy at all.
    func contiguous(_ ranges: [(address: UInt64, length: Int)]) -> UnsafeMutableRawBufferPointer? {
        guard let first = ranges.first, let start = offset(of: first.address, first.length) else { return nil }
        var next = start
        for r in ranges {
            guard offset(of: r.address, r.length) == next else { return nil }
            next += r.length
        }
        return UnsafeMutableRawBufferPointer(rebasing: bytes[start..<next])
    }

    /// Copies a batch's ranges into `buffer` when every one of them is in the copy.
    func copy(_ ranges: [(address: UInt64, length: Int)], into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        var places: [Int] = []
        for r in ranges {
            guard let at = offset(of: r.address, r.length) else { return false }
            places.append(at)
        }
        var out = 0
        for (r, at) in zip(ranges, places) {
            guard let to = buffer.baseAddress, let from = bytes.baseAddress else { return false }
            (to + out).copyMemory(from: from + at, byteCount: r.length)
            out += r.length
        }
        return true
    }
}
