import LinuxKit
import XCTest

final class ProcTimersAndLocksTests: XCTestCase {
    func testTimersParseEveryNotifyKind() throws {
        let text = """
        ID: 3
        signal: 34/00000000000010e1
        notify: signal/pid.812
        ClockID: 1
        ID: 0
        signal: 0/0000000000000000
        notify: none/pid.812
        ClockID: 0
        ID: 7
        signal: 36/0000000000000005
        notify: signal/tid.815
        ClockID: -6

        """
        let t = try ProcTimer.parse(text)
        XCTAssertEqual(t.count, 3)
        XCTAssertEqual(t[0], ProcTimer(id: 3, signal: 34, value: 0x10e1, notify: "signal", toThread: false, target: 812, clock: 1))
        XCTAssertEqual(t[1].notify, "none")
        XCTAssertEqual(t[2].toThread, true)
        XCTAssertEqual(t[2].target, 815)
        XCTAssertEqual(t[2].clock, -6)
    }

    func testTimersRejectGarbage() {
        XCTAssertThrowsError(try ProcTimer.parse("ID: x\n"))
        XCTAssertThrowsError(try ProcTimer.parse("ID: 1\nsignal: 10\n"))
        XCTAssertEqual(try ProcTimer.parse(""), [])
    }

    func testLockLines() {
        let text = """
        pos:\t0
        flags:\t02
        lock:\t1: FLOCK  ADVISORY  WRITE 23726 fe:00:16295131 0 EOF
        lock:\t2: POSIX  ADVISORY  READ 23726 fe:00:16295132 10 14
        lock:\t3: OFDLCK ADVISORY  READ -1 fe:00:16295132 100 EOF
        lock:\t3: -> POSIX  ADVISORY  WRITE 99 fe:00:16295132 0 EOF
        lock:\t4: LEASE  ACTIVE    READ 23726 fe:00:16295132 0 EOF
        """
        let locks = FileLockInfo.parse(fdinfo: text)
        XCTAssertEqual(locks, [
            FileLockInfo(kind: .flock, write: true, start: 0, end: nil),
            FileLockInfo(kind: .posix, write: false, start: 10, end: 14),
            FileLockInfo(kind: .ofd, write: false, start: 100, end: nil),
        ])
    }
}
