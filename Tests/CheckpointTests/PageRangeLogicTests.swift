import Glibc
import LinuxKit
import XCTest
@testable import Checkpoint

/// The range arithmetic of incremental images, against a page-by-page
/// model, over seeded random layouts.
final class PageRangeLogicTests: XCTestCase {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e3779b97f4a7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
            z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
            return z ^ (z >> 31)
        }
    }

    static let pages = 512

    /// Random disjoint page ranges, and the same as a set of pages.
    static func randomRanges(_ g: inout Generator) -> ([(start: UInt64, end: UInt64)], Set<Int>) {
        var out: [(start: UInt64, end: UInt64)] = []
        var set = Set<Int>()
        var at = Int.random(in: 0..<8, using: &g)
        while at < pages {
            let length = Int.random(in: 1...12, using: &g)
            let end = min(pages, at + length)
            out.append((UInt64(at) * 4096, UInt64(end) * 4096))
            set.formUnion(at..<end)
            at = end + Int.random(in: 0...10, using: &g)
        }
        return (out.shuffled(using: &g), set)
    }

    static func pageSet(_ r: PageRanges) -> Set<Int> {
        Set(r.ranges.flatMap { Int($0.start / 4096)..<Int($0.end / 4096) })
    }

    func testIntersectionAndSubtractionMatchPageSets() {
        let seed = TestEnvironment.seed(for: "page-ranges")
        var g = Generator(state: seed)
        for _ in 0..<200 {
            let (a, sa) = Self.randomRanges(&g), (b, sb) = Self.randomRanges(&g)
            let ra = PageRanges(a), rb = PageRanges(b)
            XCTAssertEqual(Self.pageSet(ra), sa)
            XCTAssertEqual(Self.pageSet(ra.intersection(rb)), sa.intersection(sb), "seed \(seed)")
            XCTAssertEqual(Self.pageSet(ra.subtracting(rb)), sa.subtracting(sb), "seed \(seed)")
            // Normalized: sorted, never touching, never empty.
            for (x, y) in zip(ra.ranges, ra.ranges.dropFirst()) { XCTAssertLessThan(x.end, y.start) }
        }
    }

    /// The plan's runs less the pages left to the parent (or a parent
    /// process): every other page dumped once; and the parent's pages as a
    /// mapping's page runs.
    func testSubtractingFromAPlanKeepsEveryOtherPageOnce() {
        let seed = TestEnvironment.seed(for: "incremental-split")
        var g = Generator(state: seed)
        for _ in 0..<200 {
            let (runs, sRuns) = Self.randomRanges(&g), (kept, sKept) = Self.randomRanges(&g)
            let candidates = PageRanges(runs).ranges.map { MemoryDumper.Candidate(address: $0.start, pages: ($0.end - $0.start) / 4096) }
            let keptSorted = PageRanges(kept).ranges.map { (address: $0.start, length: $0.end - $0.start) }
            let dump = MemoryDumper.subtract(candidates, keptSorted)
            let dumped = Set(dump.flatMap { Int($0.address / 4096)..<Int($0.address / 4096 + $0.pages) })
            XCTAssertEqual(dumped, sRuns.subtracting(sKept), "seed \(seed)")
            XCTAssertEqual(sRuns.subtracting(dumped), sRuns.intersection(sKept), "seed \(seed)")
            XCTAssertEqual(dump.reduce(0) { $0 + Int($1.pages) }, dumped.count, "a page dumped twice, seed \(seed)")
            // Page runs relative to a mapping cover exactly its part of the parent's pages.
            let start: UInt64 = 100 * 4096, end: UInt64 = 300 * 4096
            let rel = IncrementalPlan.pageRuns(keptSorted, in: start, end)
            var relPages = Set<Int>()
            for i in stride(from: 0, to: rel.count, by: 2) {
                let first = 100 + Int(rel[i]), count = Int(rel[i + 1])
                relPages.formUnion(first..<(first + count))
            }
            XCTAssertEqual(relPages, sKept.filter { $0 >= 100 && $0 < 300 }, "seed \(seed)")
        }
    }

    /// Scanned regions sorted: unwritten own pages to the parent, written or
    /// swapped ones read (close ones as one range), zero and file pages neither.
    func testClassifyingScannedRegions() {
        let page: UInt64 = 4096
        func region(_ a: UInt64, _ b: UInt64, _ c: Pagemap.PageCategories) -> Pagemap.Region {
            Pagemap.Region(start: a * page, end: b * page, categories: c)
        }
        let regions = [
            region(0, 4, [.present, .writeProtectable]),              // unwritten: parent's
            region(4, 5, [.present, .written]),                       // written: read
            region(5, 6, [.present, .zeroPage, .writeProtectable]),   // zero page: neither
            region(6, 8, [.present, .file, .writeProtectable]),       // the file's: neither
            region(8, 9, [.swapped, .writeProtectable]),              // marker or swap: read
            region(9, 12, [.present, .writeProtectable]),
            region(2000, 2001, [.present, .written]),                 // far away: a range of its own
        ]
        var scan = IncrementalPlan.Scan()
        IncrementalPlan.classify(regions, into: &scan, mapping: 0)
        XCTAssertEqual(scan.fromParent.map { [$0.address / page, $0.length / page] }, [[0, 4], [9, 3]])
        XCTAssertEqual(scan.read[0]?.map { [$0.start / page, $0.end / page] }, [[4, 9], [2000, 2001]])
        // Direct (no children): written pages are dumped as found, only swapped entries go to pagemap.
        var direct = IncrementalPlan.Scan()
        direct.direct = true
        IncrementalPlan.classify(regions, into: &direct, mapping: 0)
        XCTAssertEqual(direct.fromParent.map { [$0.address / page, $0.length / page] }, [[0, 4], [9, 3]])
        XCTAssertEqual(direct.written[0]?.map { [$0.start / page, $0.end / page] }, [[4, 5], [2000, 2001]])
        XCTAssertEqual(direct.read[0]?.map { [$0.start / page, $0.end / page] }, [[8, 9]])
    }

    /// The tracking record's registered ranges: the binary search answers
    /// as a scan of every range does, for seeded layouts and queries.
    func testRegisteredRangesOverlapAsALinearScanSays() {
        for seed in UInt64(1)...200 {
            var g = Generator(state: seed)
            let (pairs, _) = Self.randomRanges(&g)
            // As the record keeps them: by address.
            let registered = pairs.map { $0.start..<$0.end }.sorted { $0.lowerBound < $1.lowerBound }
            for _ in 0..<50 {
                let a = UInt64.random(in: 0..<UInt64(Self.pages + 8), using: &g) * 4096
                let b = a + UInt64.random(in: 1...16, using: &g) * 4096
                let expected = registered.contains { $0.overlaps(a..<b) }
                XCTAssertEqual(registered.anyOverlaps(a..<b), expected, "seed \(seed): 0x\(String(a, radix: 16))-0x\(String(b, radix: 16))")
            }
        }
    }
}
