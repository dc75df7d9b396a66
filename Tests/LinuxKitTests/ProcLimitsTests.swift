import Glibc
import XCTest
@testable import LinuxKit

/// /proc/PID/limits, which a checkpoint reads for every process (prlimit64
/// may not read another user's), against getrlimit and against bad text.
final class ProcLimitsTests: XCTestCase {
    /// This process's own file says what getrlimit says, for every resource.
    func testOwnLimitsMatchGetrlimit() throws {
        let text = try String(contentsOfFile: "/proc/self/limits", encoding: .utf8)
        let limits = try ProcLimits.parse(text)
        XCTAssertEqual(limits.map(\.resource), Array(0..<16))
        for l in limits {
            var r = rlimit()
            XCTAssertEqual(getrlimit(__rlimit_resource_t(UInt32(l.resource)), &r), 0)
            XCTAssertEqual(l.soft, UInt64(r.rlim_cur), "resource \(l.resource)")
            XCTAssertEqual(l.hard, UInt64(r.rlim_max), "resource \(l.resource)")
        }
    }

    /// Seeded values in the kernel's column format, "unlimited" among them.
    func testSeededLinesInTheKernelsFormat() throws {
        var rng: UInt64 = 0x5eed_1173
        func next() -> UInt64 { rng = rng &* 6364136223846793005 &+ 1442695040888963407; return rng }
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        for _ in 0..<50 {
            var want: [ProcLimits.Limit] = []
            var text = pad("Limit", 25) + " " + pad("Soft Limit", 20) + " " + pad("Hard Limit", 20) + " " + pad("Units", 10) + "\n"
            for k in 0..<16 {
                let soft = next() % 4 == 0 ? UInt64.max : next() >> (next() % 64)
                let hard = next() % 4 == 0 ? UInt64.max : next() >> (next() % 64)
                func show(_ v: UInt64) -> String { v == .max ? "unlimited" : String(v) }
                text += pad("Max realtime timeout", 25) + " " + pad(show(soft), 20) + " " + pad(show(hard), 20) + " " + pad("us", 10) + "\n"
                want.append(.init(resource: k, soft: soft, hard: hard))
            }
            XCTAssertEqual(try ProcLimits.parse(text), want)
        }
    }

    func testBadTextIsRefusedWithItsLine() {
        XCTAssertThrowsError(try ProcLimits.parse("")) { XCTAssertTrue("\($0)".contains("header"), "\($0)") }
        let header = "Limit                     Soft Limit           Hard Limit           Units     \n"
        XCTAssertThrowsError(try ProcLimits.parse(header + "Max cpu time              lots                 unlimited            seconds\n")) {
            XCTAssertTrue("\($0)".contains("line 2"), "\($0)")
        }
        XCTAssertThrowsError(try ProcLimits.parse(header + "Max cpu time\n"))
    }
}
