import Checkpoint
import XCTest

/// BLCR's --relocate rules, without any process.
final class PathRelocationTests: XCTestCase {
    func testWholeComponentsFirstMatchWins() throws {
        let r = try PathRelocation(arguments: ["/data/old=/data/new", "/data=/elsewhere", "/=/root"])
        XCTAssertEqual(r.apply("/data/old"), "/data/new")
        XCTAssertEqual(r.apply("/data/old/file"), "/data/new/file")
        XCTAssertEqual(r.apply("/data/older/file"), "/elsewhere/older/file")  // "old" is not a whole component of "older"
        XCTAssertEqual(r.apply("/tmp/x"), "/root/tmp/x")
        XCTAssertEqual(try PathRelocation(arguments: ["/a/=/b/"]).apply("/a/c"), "/b/c")
    }

    func testEscapes() throws {
        let r = try PathRelocation(arguments: ["/x\\=y=/z\\\\w"])
        XCTAssertEqual(r.pairs.first?.old, "/x=y")
        XCTAssertEqual(r.pairs.first?.new, "/z\\w")
    }

    func testBadArgumentsSayWhy() {
        for bad in ["relative=/x", "/x=relative", "/no-equals", "/x=/y\\", "/x\\q=/y"] {
            XCTAssertThrowsError(try PathRelocation(arguments: [bad]), bad)
        }
        XCTAssertThrowsError(try PathRelocation(arguments: Array(repeating: "/a=/b", count: 17)))
        XCTAssertNoThrow(try PathRelocation(arguments: Array(repeating: "/a=/b", count: 16)))
    }
}
