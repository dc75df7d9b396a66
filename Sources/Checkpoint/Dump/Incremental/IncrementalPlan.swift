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
    /// Pages of one tracked mapping whose bytes are still the parent image's.
    static func unwritten(_ regions: [Pagemap.Region], kind: Mapping.Kind) -> [(address: UInt64, length: UInt64)] {
        regions.compactMap { r in
            let c = r.categories
            guard !c.contains(.written), !c.contains(.zeroPage) else { return nil }
            // A present page of the program's own (not the file's), or a
            // swapped-out anonymous page. In file-backed mappings a "swapped"
            // entry may be the protection marker the kernel leaves where a
            // page was dropped: read, it shows the file, as it should.
            let kept = (c.contains(.present) && !c.contains(.file)) || (c.contains(.swapped) && !c.contains(.present) && kind == .anonymous)
            return kept ? (r.start, r.end - r.start) : nil
        }
    }

    /// Splits a process's candidate runs: those inside `kept` (sorted, not
    /// overlapping) leave the plan and are returned as ranges; one pass over both.
    static func split(_ runs: [MemoryDumper.Candidate], by kept: [(address: UInt64, length: UInt64)])
        -> (dump: [MemoryDumper.Candidate], fromParent: [(address: UInt64, length: UInt64)]) {
        guard !kept.isEmpty else { return (runs, []) }
        var dump: [MemoryDumper.Candidate] = []
        var fromParent: [(address: UInt64, length: UInt64)] = []
        var k = 0
        for run in runs {
            var at = run.address
            let end = run.address + run.pages * 4096
            while k < kept.count && kept[k].address + kept[k].length <= at { k += 1 }
            var j = k
            while at < end {
                guard j < kept.count, kept[j].address < end else {
                    var piece = run
                    piece.address = at
                    piece.pages = (end - at) / 4096
                    dump.append(piece)
                    break
                }
                let hole = kept[j]
                if hole.address > at {
                    var piece = run
                    piece.address = at
                    piece.pages = (hole.address - at) / 4096
                    dump.append(piece)
                    at = hole.address
                }
                let stop = min(end, hole.address + hole.length)
                if let last = fromParent.last, last.address + last.length == at {
                    fromParent[fromParent.count - 1].length += stop - at
                } else {
                    fromParent.append((at, stop - at))
                }
                at = stop
                if stop == hole.address + hole.length { j += 1 }
            }
        }
        return (dump, fromParent)
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

    /// Applies the tracking of one process to its plan and mapping records.
    static func apply(pid: pid_t, maps: [(MapsEntry, Mapping)], mappings: inout [Mapping], runs: inout [MemoryDumper.Candidate]) throws -> UInt64 {
        let pagemap = try Pagemap(pid: pid)
        defer { pagemap.close() }
        var kept: [(address: UInt64, length: UInt64)] = []
        for (m, mapping) in maps where m.vmFlags.contains("uw") && WriteTracking.trackable(m, mapping) {
            kept += unwritten(try pagemap.scan(start: m.start, end: m.end, anyOf: [.present, .swapped]), kind: mapping.kind)
        }
        kept.sort { $0.address < $1.address }
        let (dump, fromParent) = split(runs, by: kept)
        runs = dump
        for i in mappings.indices {
            mappings[i].parentRuns = pageRuns(fromParent, in: mappings[i].start, mappings[i].end)
        }
        return fromParent.reduce(0) { $0 + $1.length } / 4096
    }
}
