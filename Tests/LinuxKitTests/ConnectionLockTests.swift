import Glibc
import XCTest
@testable import LinuxKit

/// The nftables lock's naming and encoding (the round trip through the
/// kernel is RoundTripTests.testConnectionHeldBackBetweenCheckpointAndRestartAsRoot).
final class ConnectionLockTests: XCTestCase {
    private func v4(_ a: [UInt8], port: UInt16, padTo: Int = 16) -> [UInt8] {
        var b: [UInt8] = [UInt8(AF_INET), 0, UInt8(port >> 8), UInt8(port & 0xff)] + a
        while b.count < padTo { b.append(0) }
        return b
    }

    private func v6(_ a: [UInt8], port: UInt16) -> [UInt8] {
        [UInt8(AF_INET6), 0, UInt8(port >> 8), UInt8(port & 0xff), 0, 0, 0, 0] + a + [0, 0, 0, 0]
    }

    /// Checkpoint and restart read the addresses with different lengths:
    /// the name depends on ports and addresses only; each end of a
    /// connection has its own; an IPv4-mapped IPv6 address is the IPv4 one.
    func testTableNamesFollowTheConnectionsEnds() {
        let seed = UInt64(truncatingIfNeeded: time(nil))
        var rng = seed
        for _ in 0..<200 {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            let a: [UInt8] = [127, 0, UInt8(rng >> 8 & 0xff), 1], b: [UInt8] = [10, UInt8(rng >> 16 & 0xff), 0, 2]
            let pa = UInt16(truncatingIfNeeded: rng >> 24) | 1, pb = UInt16(truncatingIfNeeded: rng >> 40) | 2
            let name = ConnectionLock.tableName(local: v4(a, port: pa), peer: v4(b, port: pb))
            XCTAssertEqual(name, ConnectionLock.tableName(local: v4(a, port: pa, padTo: 128), peer: v4(b, port: pb, padTo: 28)), "seed \(seed)")
            XCTAssertNotEqual(name, ConnectionLock.tableName(local: v4(b, port: pb), peer: v4(a, port: pa)), "seed \(seed)")
            let mapped = { (x: [UInt8]) in [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + x }
            XCTAssertEqual(name, ConnectionLock.tableName(local: v6(mapped(a), port: pa), peer: v6(mapped(b), port: pb)), "seed \(seed)")
            XCTAssertTrue(name.hasPrefix("swiftcr-lock-") && name.count == 29, name)
        }
    }

    /// Netlink attributes: length counts the header and value, not the
    /// padding to 4 bytes; a nested one carries NLA_F_NESTED; u32 values are big-endian.
    func testAttributesAreEncodedAsNetlinkWantsThem() {
        var out: [UInt8] = []
        NFAttribute.nested(4, [.string(1, "ab"), .u32(2, 0x0102_0304)]).encode(into: &out)
        XCTAssertEqual(out, [20, 0, 4, 0x80,   7, 0, 1, 0, 0x61, 0x62, 0, 0,   8, 0, 2, 0, 1, 2, 3, 4])
    }

    /// Addresses the lock cannot match are refused before anything is sent.
    func testUnknownAddressFamiliesAreRefused() {
        let unix: [UInt8] = [UInt8(AF_UNIX), 0, 0x2f, 0x74, 0]
        XCTAssertThrowsError(try ConnectionLock.lock(local: unix, peer: unix))
        XCTAssertThrowsError(try ConnectionLock.lock(local: v4([127, 0, 0, 1], port: 1), peer: v6([UInt8](repeating: 1, count: 16), port: 2)))
    }
}
