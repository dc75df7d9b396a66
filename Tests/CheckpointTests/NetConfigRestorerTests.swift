import Glibc
import XCTest
@testable import CheckpointImage
@testable import Checkpoint

/// The restart's addresses and routes go in one by one: one that cannot be
/// made (a route through a gateway no address reaches) is named, and those
/// after it are still made.
final class NetConfigRestorerTests: XCTestCase {
    func testARouteThatCannotBeMadeIsNamedAndTheRestAreMade() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root for a network namespace of its own") }
        let holder = try Child(["/usr/bin/unshare", "--net", "/bin/sh", "-c", "ip link set lo up && echo up && exec sleep 30"], user: nil, cwd: "/")
        defer { kill(holder.pid, SIGKILL); _ = holder.wait(timeout: 5) }
        XCTAssertTrue(holder.read(until: "up"))
        var ns = NetNamespaceState(loopbackUp: true, otherInterfaces: [])
        ns.addresses = [SavedAddress(family: 2, prefixLength: 24, flags: 0, scope: 0, interface: "lo", local: [10, 7, 0, 1], peer: [], broadcast: [], label: "")]
        func route(_ destination: [UInt8], via gateway: [UInt8]) -> SavedRoute {
            SavedRoute(family: 2, destinationLength: 24, table: 254, proto: 3, scope: 0, type: 1, destination: destination, gateway: gateway,
                       interface: "lo", priority: nil, preferredSource: [])
        }
        ns.routes = [route([192, 0, 2, 0], via: [203, 0, 113, 9]), route([198, 51, 100, 0], via: [10, 7, 0, 2])]
        ns.sysctls = [("ipv4/ip_forward", "1"), ("ipv4/no_such_setting", "1")]
        XCTAssertThrowsError(try NetConfigRestorer.restore(ns, stub: holder.pid)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("adding a route through lo"), text)
            XCTAssertTrue(text.contains("net.ipv4.no_such_setting"), text)
            XCTAssertFalse(text.contains("ip_forward"), text)
        }
        let shown = runTool(["/usr/bin/nsenter", "--net=/proc/\(holder.pid)/ns/net", "/bin/sh", "-c", "ip -4 addr show dev lo; ip route; cat /proc/sys/net/ipv4/ip_forward"])
        XCTAssertTrue(shown.output.contains("10.7.0.1/24"), shown.output)
        XCTAssertTrue(shown.output.contains("198.51.100.0/24 via 10.7.0.2"), shown.output)
        XCTAssertFalse(shown.output.contains("192.0.2.0"), shown.output)
        XCTAssertTrue(shown.output.hasSuffix("1\n"), shown.output)
    }
}
