import CheckpointImage
import Glibc
import LinuxKit

/// An incremental checkpoint's memory plan: in every mapping whose writes
/// are tracked since the parent image, the pages not written since are
/// left out of the dump and listed as the parent's (Mapping.parentRuns).
/// A page that is gone (MADV_DONTNEED, never touched) is neither: it comes
/// back zero, not as the parent's bytes. Untracked mappings (new, moved by
/// mremap, or in a process without tracking) are dumped whole, as usual.
enum IncrementalPlan {
    /// What the scan of the tracked mappings found: per mapping (by start),
    /// the ranges whose pagemap the dump still reads (written pages, and
    /// swapped entries, which the usual rules sort out), and every page
    /// left to the parent, by address.
    struct Scan {
        var read: [UInt64: [(start: UInt64, end: UInt64)]] = [:]
        /// With `direct`: the written pages of the program's own, per
        /// mapping, dumped as they are (no pagemap read needed for them).
        var written: [UInt64: [(start: UInt64, end: UInt64)]] = [:]
        var fromParent: [(address: UInt64, length: UInt64)] = []
        /// Written pages are taken from the scan. Not for a process with
        /// children: a page it wrote and then forked may be shared with a
        /// child, which only pagemap tells (and such a page is read
        /// another way, MemoryDumper.Candidate.shared).
        var direct = false
    }

    /// Sorts one tracked mapping's scanned regions. A present page of the
    /// program's own (not the file's) that was not written is the parent's;
    /// the shared zero page and pages never there are neither (zero, or the
    /// file's bytes); written and swapped pages are read. In file-backed
    /// mappings a "swapped" entry may also be the protection marker the
    /// kernel leaves where a page was dropped: read, it shows the file.
    static let readGap: UInt64 = 2 << 20

    static func classify(_ regions: [Pagemap.Region], into scan: inout Scan, mapping start: UInt64) {
        var read: [(start: UInt64, end: UInt64)] = []
        for r in regions {
            let c = r.categories
            if c.contains(.zeroPage) { continue }
            if c.contains(.present) && !c.contains(.written) && !c.contains(.file) {
                if let last = scan.fromParent.last, last.address + last.length == r.start {
                    scan.fromParent[scan.fromParent.count - 1].length += r.end - r.start
                } else {
                    scan.fromParent.append((r.start, r.end - r.start))
                }
            } else if scan.direct && c.contains(.present) && c.contains(.written) {
                if !c.contains(.file) { scan.written[start, default: []].append((r.start, r.end)) }
            } else if c.contains(.written) || c.contains(.swapped) {
                // Close ranges are read as one (a pagemap read per range costs a
                // system call); the parent's pages between them leave the plan (MemoryDumper.subtract).
                if let last = read.last, r.start - last.end <= Self.readGap { read[read.count - 1].end = r.end } else { read.append((r.start, r.end)) }
            }
        }
        scan.read[start] = read
    }

    /// (first page, count) pairs of `ranges` inside the mapping starting at `start`.
    static func pageRuns(_ ranges: [(address: UInt64, length: UInt64)], in start: UInt64, _ end: UInt64) -> [UInt64] {
        var low = 0, high = ranges.count  // the first range ending after `start`
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].address + ranges[mid].length <= start { low = mid + 1 } else { high = mid }
        }
        var out: [UInt64] = []
        while low < ranges.count && ranges[low].address < end {
            let r = ranges[low]
            let lo = max(r.address, start), hi = min(r.address + r.length, end)
            out += [(lo - start) / 4096, (hi - lo) / 4096]
            low += 1
        }
        return out
    }

    /// Scans every tracked mapping of one process (smaps "uw": registered
    /// with our userfaultfd; not saved whole), leaving the protection as it
    /// is: the last checkpoint of a chain (--kill, --stop-tracking).
    /// Checkpoints that keep tracking scan beside the collection instead and
    /// protect the written pages again (TrackedScan).
    static func scan(pid: pid_t, maps: [(MapsEntry, Mapping)], registered: [Range<UInt64>]) throws -> Scan {
        let pagemap = try Pagemap(pid: pid)
        defer { pagemap.close() }
        var scan = Scan()
        scan.direct = !hasChildren(pid)
        for (m, _) in tracked(maps, registered: registered) {
            classify(try pagemap.scan(start: m.start, end: m.end, anyOf: [.present, .swapped]), into: &scan, mapping: m.start)
        }
        scan.fromParent.sort { $0.address < $1.address }
        return scan
    }

    /// The mappings whose written pages are known, by address: registered
    /// for write protection ("uw") where swiftcr registered memory (a
    /// mapping the program registered itself is saved as usual).
    static func tracked(_ maps: [(MapsEntry, Mapping)], registered: [Range<UInt64>]) -> [(MapsEntry, Mapping)] {
        maps.filter { m, mapping in
            m.vmFlags.contains("uw") && WriteTracking.trackable(m, mapping) && !mapping.savedWhole
                && registered.anyOverlaps(m.start..<m.end)
        }.sorted { $0.0.start < $1.0.start }
    }

    /// As `scan(pid:maps:)`, with the written pages protected again, from the runs a
    /// TrackedScan found over the whole address space: cut at the tracked
    /// mappings' bounds (the kernel joins runs across adjacent mappings),
    /// and dropped outside them.
    static func scan(pid: pid_t, maps: [(MapsEntry, Mapping)], registered: [Range<UInt64>], prescanned regions: [Pagemap.Region]) -> Scan {
        var scan = Scan()
        scan.direct = !hasChildren(pid)
        var k = 0
        for (m, _) in tracked(maps, registered: registered) {
            while k < regions.count && regions[k].end <= m.start { k += 1 }
            var inside: [Pagemap.Region] = []
            var j = k
            while j < regions.count && regions[j].start < m.end {
                var r = regions[j]
                r.start = max(r.start, m.start)
                r.end = min(r.end, m.end)
                inside.append(r)
                j += 1
            }
            classify(inside, into: &scan, mapping: m.start)
        }
        scan.fromParent.sort { $0.address < $1.address }
        return scan
    }

    /// Whether any thread of the process has a child (/proc/PID/task/TID/children).
    static func hasChildren(_ pid: pid_t) -> Bool {
        let tids = (try? Sys.numericEntries("/proc/\(pid)/task")) ?? []
        return tids.isEmpty || tids.contains { tid in
            guard let text = try? Sys.readText("/proc/\(pid)/task/\(tid)/children") else { return true }
            return !text.allSatisfy { $0 == " " || $0 == "\n" }
        }
    }

    /// The plan's runs with the scan's written pages added (as the pagemap
    /// rules would have found them: zero pages kept where a file or shared
    /// object shows through), in address order.
    static func addWritten(_ scan: Scan, maps: [(MapsEntry, Mapping)], to runs: [MemoryDumper.Candidate]) -> [MemoryDumper.Candidate] {
        guard !scan.written.isEmpty else { return runs }
        var out = runs
        for (m, mapping) in maps {
            guard let ranges = scan.written[m.start] else { continue }
            let keepsZero = mapping.kind == .privateFile || mapping.kind == .privateShared
            for r in ranges {
                out.append(MemoryDumper.Candidate(address: r.start, pages: (r.end - r.start) / 4096, keepsZeroPages: keepsZero))
            }
        }
        return out.sorted { $0.address < $1.address }
    }
}
