/// Sorted, non-overlapping address ranges, and the set operations a parent
/// chain needs, each one pass over both operands.
struct PageRanges: Equatable {
    private(set) var ranges: [(start: UInt64, end: UInt64)] = []

    init() {}

    /// From ranges in any order (they may touch; they must not overlap).
    init(_ list: [(start: UInt64, end: UInt64)]) {
        for r in list.sorted(by: { $0.start < $1.start }) where r.end > r.start { append(r.start, r.end) }
    }

    var isEmpty: Bool { ranges.isEmpty }
    var byteCount: UInt64 { ranges.reduce(0) { $0 + $1.end - $1.start } }

    /// Adds a range at or past the end of the last one.
    mutating func append(_ start: UInt64, _ end: UInt64) {
        guard end > start else { return }
        if let last = ranges.last, last.end == start { ranges[ranges.count - 1].end = end } else { ranges.append((start, end)) }
    }

    func intersection(_ other: PageRanges) -> PageRanges {
        var out = PageRanges()
        var i = 0, j = 0
        while i < ranges.count && j < other.ranges.count {
            let a = ranges[i], b = other.ranges[j]
            out.append(max(a.start, b.start), min(a.end, b.end))
            if a.end < b.end { i += 1 } else { j += 1 }
        }
        return out
    }

    func subtracting(_ other: PageRanges) -> PageRanges {
        var out = PageRanges()
        var j = 0
        for a in ranges {
            var at = a.start
            while j < other.ranges.count && other.ranges[j].end <= at { j += 1 }
            var k = j
            while k < other.ranges.count && other.ranges[k].start < a.end {
                out.append(at, other.ranges[k].start)
                at = max(at, other.ranges[k].end)
                k += 1
            }
            out.append(at, a.end)
        }
        return out
    }

    static func == (l: PageRanges, r: PageRanges) -> Bool {
        l.ranges.count == r.ranges.count && zip(l.ranges, r.ranges).allSatisfy { $0.start == $1.start && $0.end == $1.end }
    }
}
