import Glibc
import XCTest
@testable import LinuxKit

/// Programs run by NamespaceCommand (the firewall tools) give back their
/// output and status, and one that hangs is killed at its time limit
/// instead of holding a checkpoint's frozen processes for ever.
final class NamespaceCommandTests: XCTestCase {
    func testOutputInputAndStatusComeBack() throws {
        guard case .success(let o) = NamespaceCommand.run("/bin/sh", ["-c", "cat; echo oops >&2; exit 3"], input: Array("hello\n".utf8), in: nil) else {
            return XCTFail("spawn failed")
        }
        XCTAssertEqual(o.status, 3)
        XCTAssertEqual(String(decoding: o.output, as: UTF8.self), "hello\n")
        XCTAssertEqual(String(decoding: o.errors, as: UTF8.self), "oops\n")
    }

    func testAProgramThatHangsIsKilledAtItsTimeLimit() throws {
        let started = Date()
        guard case .success(let o) = NamespaceCommand.run("/bin/sh", ["-c", "echo partial; exec sleep 60"], in: nil, timeLimit: 0.5) else {
            return XCTFail("spawn failed")
        }
        let took = Date().timeIntervalSince(started)
        XCTAssertLessThan(took, 30, "not waited for until it ended by itself")
        XCTAssertEqual(o.status, 128 + SIGKILL)
        XCTAssertEqual(String(decoding: o.output, as: UTF8.self), "partial\n")
        XCTAssertTrue(String(decoding: o.errors, as: UTF8.self).hasPrefix("timed out after 1 s"), String(decoding: o.errors, as: UTF8.self))
    }
}
