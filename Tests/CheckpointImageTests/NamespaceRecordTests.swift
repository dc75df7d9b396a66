import XCTest
@testable import CheckpointImage

/// The TREE section's PID and time namespace records (tags 3 and 4) and
/// PROCESS tag 40: seeded values survive a round trip, damaged ones are refused.
final class NamespaceRecordTests: XCTestCase {
    func testNamespaceIDsAndTimeOffsetsRoundTrip() throws {
        var random = SeededRandom("namespace-records")
        for _ in 0..<200 {
            var tree = TreeState(omittedPIDs: [])
            for _ in 0..<random.next(40) {
                tree.namespaceIDs[Int32(1 + random.next(4_000_000))] = Int32(1 + random.next(32768))
            }
            if random.next(2) == 1 {
                tree.timeOffsets = [Int64(random.next(1 << 40)) - (1 << 39), Int64(random.next(1_000_000_000)),
                                    Int64(random.next(1 << 40)) - (1 << 39), Int64(random.next(1_000_000_000))]
            }
            let decoded = try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0))
            XCTAssertEqual(decoded, tree)
            XCTAssertEqual(decoded.ownPIDNamespace, !tree.namespaceIDs.isEmpty)

            var p = SampleImage.process
            p.timeNamespace = .init(own: random.next(2) == 1, children: random.next(2) == 1)
            XCTAssertEqual(try ProcessState(decoding: RecordDecoder(p.encode()[...], name: "process", base: 0)).timeNamespace, p.timeNamespace)
        }
    }

    func testDamagedNamespaceRecordsAreRefused() {
        let bad: [[UInt64]] = [[5], [5, 0], [0, 1], [UInt64(Int32.max) + 1, 1]]
        for values in bad {
            var e = RecordEncoder()
            e.u64s(3, values)
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(e.bytes[...], name: "tree", base: 0)), "\(values)")
        }
        for offsets in [[1, 2, 3], [0, 1_000_000_000, 0, 0], [0, 0, 0, UInt64.max]] as [[UInt64]] {
            var e = RecordEncoder()
            e.u64s(4, offsets)
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(e.bytes[...], name: "tree", base: 0)), "\(offsets)")
        }
        var p = RecordDecoderProbe.process(with: 40, [2, 0])
        XCTAssertThrowsError(try ProcessState(decoding: RecordDecoder(p[...], name: "process", base: 0)))
        p = RecordDecoderProbe.process(with: 40, [1])
        XCTAssertThrowsError(try ProcessState(decoding: RecordDecoder(p[...], name: "process", base: 0)))
    }
}

/// A sample PROCESS record with one more u64[] field.
enum RecordDecoderProbe {
    static func process(with tag: UInt16, _ values: [UInt64]) -> [UInt8] {
        var e = RecordEncoder()
        e.u64s(tag, values)
        return SampleImage.process.encode() + e.bytes
    }
}
