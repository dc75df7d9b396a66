import Glibc
import XCTest
@testable import LinuxKit

/// The byte-level /proc/PID/stat and TracerPid readers (a checkpoint reads
/// them for every process on the machine) against what they replace.
final class ProcStatTests: XCTestCase {
    /// A stat line whose fields are `values` (fields 4-52), behind a command
    /// that has spaces and parentheses in it.
    private func line(pid: Int32, comm: String, state: Character, values: [Int64]) -> String {
        "\(pid) (\(comm)) \(state) " + values.map(String.init).joined(separator: " ") + "\n"
    }

    func testParsesCommandsWithParenthesesAndNegativeFields() throws {
        var values = [Int64](repeating: 0, count: 49)
        values[0] = 1        // ppid (field 4)
        values[1] = 4242     // pgrp
        values[2] = 4241     // session
        values[3] = 34817    // tty
        values[4] = -1       // tpgid
        values[16] = 3       // threads (field 20)
        values[48] = 256     // exit code (field 52)
        let st = try ProcStat(parsing: line(pid: 4242, comm: "a b) (c", state: "S", values: values))
        XCTAssertEqual(st.pid, 4242)
        XCTAssertEqual(st.comm, "a b) (c")
        XCTAssertEqual(st.state, "S")
        XCTAssertEqual([st.ppid, st.pgrp, st.session], [1, 4242, 4241])
        XCTAssertEqual(st.ttyNumber, 34817)
        XCTAssertEqual(st.terminalGroup, -1)
        XCTAssertEqual(st.threads, 3)
        XCTAssertEqual(st.exitCode, 256)
    }

    /// Seeded random values in every field, addresses up to 2^64 - 1 included.
    func testRandomLinesRoundTrip() throws {
        var rng = UInt64(ProcessInfo.processInfo.environment["SWIFTCR_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        print("procstat seed \(rng) (rerun with SWIFTCR_SEED=\(rng))")
        func next() -> UInt64 { rng = rng &* 6364136223846793005 &+ 1442695040888963407; return rng }
        for _ in 0..<200 {
            var fields = (0..<49).map { _ in String(Int64(bitPattern: next() >> (next() % 64)) & Int64.max) }
            if next() % 2 == 0 { fields[4] = "-1" }
            let startCode = next() | 1 << 63  // an address past Int64.max
            fields[22] = String(startCode)
            let pid = Int32(next() % 4_000_000) + 1
            let st = try ProcStat(parsing: "\(pid) (x) R " + fields.joined(separator: " ") + "\n")
            XCTAssertEqual(st.pid, pid)
            XCTAssertEqual(st.ppid, Int32(truncatingIfNeeded: Int64(fields[0])!))
            XCTAssertEqual(st.terminalGroup, Int32(truncatingIfNeeded: Int64(fields[4])!))
            XCTAssertEqual(st.startCode, startCode)
            XCTAssertEqual(st.envEnd, UInt64(fields[47])!)
        }
    }

    func testRejectsBrokenLines() {
        XCTAssertThrowsError(try ProcStat(parsing: "12 no parentheses S 1 2 3"))
        XCTAssertThrowsError(try ProcStat(parsing: "12 (x) S 1 2 3"))
        // A field that is read (the parent, field 4) and not a number.
        XCTAssertThrowsError(try ProcStat(parsing: "12 (x) S y " + Array(repeating: "7", count: 50).joined(separator: " ")))
    }

    func testOwnProcessAndTracerPidAgreeWithTheFullParsers() throws {
        let me = try ProcStat.read(pid: getpid())
        XCTAssertEqual(me.pid, getpid())
        XCTAssertEqual(me.ppid, getppid())
        XCTAssertEqual(me.pgrp, getpgrp())
        XCTAssertEqual(ProcStatus.tracerPid(of: getpid()), try ProcStatus.read(pid: getpid()).tracerPid)
        XCTAssertNil(ProcStatus.tracerPid(of: -5))
    }
}
