import Foundation
import XCTest
@testable import XOS

final class PolicyTests: XCTestCase {
    static let text = """
    # pools first
    pool phys prefix=phys first=20001 count=3
    deny "/physics/Role=banned"
    map "/physics/analysis/Role=admin" account=physadmin
    map "/physics/*" pool=phys group=physics
    map "/chem" account=chemuser
    """

    func attrs(_ vo: String, group: String? = nil, role: String? = nil, guid: String = UUID().uuidString) -> VOAttributes {
        var a = VOAttributes()
        a.primaryVO = vo
        a.group = group
        a.role = role
        a.globalUserID = guid
        return a
    }

    func testParsingAndFirstMatchWins() throws {
        let p = try MappingPolicy(text: Self.text)
        XCTAssertEqual(p.pools["phys"]?.count, 3)
        XCTAssertEqual(p.rules.count, 4)
        XCTAssertEqual(p.decide(attrs("physics", group: "analysis", role: "admin"))?.rule.target, .account("physadmin"))
        XCTAssertEqual(p.decide(attrs("physics", group: "analysis"))?.rule.target, .pool("phys", group: "physics"))
        XCTAssertEqual(p.decide(attrs("physics", role: "banned"))?.rule.target, .deny)
        XCTAssertEqual(p.decide(attrs("chem"))?.rule.target, .account("chemuser"))
        XCTAssertNil(p.decide(attrs("biology")))
        XCTAssertTrue(MappingPolicy.matches("/*", "/any"))
        XCTAssertFalse(MappingPolicy.matches("/physics", "/physics/analysis"))
        XCTAssertTrue(MappingPolicy.matches("/physics/*", "/physics/analysis/Role=x"))
    }

    func testBadPolicyNamesTheLine() {
        let cases: [(String, String)] = [
            ("pool p prefix=x first=1", "ams.conf:1"),
            ("\nmap \"/vo\"", "ams.conf:2"),
            ("map \"/vo\" pool=nosuch", "pool 'nosuch' is not defined"),
            ("frobnicate", "unknown directive"),
            ("map \"vo\" account=a", "must start with /vo"),
            ("map \"/vo account=a", "unterminated quote"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try MappingPolicy(text: text), text) { XCTAssertTrue("\($0)".contains(expected), "\(text): \($0)") }
        }
    }

    func testMappingLeasesPoolAccountsAndRefusesDenied() throws {
        let dir = NSTemporaryDirectory() + "leases-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mapper = AccountMapper(policy: try MappingPolicy(text: Self.text), leases: LeaseDirectory(path: dir))
        let a = attrs("physics", group: "analysis"), b = attrs("physics")
        let first = try mapper.map(a)
        XCTAssertEqual(first.account, "phys001")
        XCTAssertEqual(first.group, "physics")
        XCTAssertEqual(try mapper.map(a).account, "phys001", "the same holder keeps its lease")
        XCTAssertEqual(try mapper.map(b).account, "phys002")
        XCTAssertThrowsError(try mapper.map(attrs("physics", role: "banned"))) { XCTAssertTrue("\($0)".contains("denied")) }
        _ = try mapper.map(attrs("physics"))
        XCTAssertThrowsError(try mapper.map(attrs("physics"))) { XCTAssertTrue("\($0)".contains("exhausted")) }
        XCTAssertEqual(try mapper.leases.list().count, 3)
        XCTAssertTrue(mapper.leases.release(a.globalUserID!))
        XCTAssertEqual(try mapper.map(attrs("physics")).account, "phys001", "a released account is leased again")
    }

    /// Many processes leasing at once never share an account (link(2) is
    /// atomic), and none is told the pool is exhausted while an account is
    /// free (two that collide on one both let go of it): sixteen `xos-ams
    /// lease` loops of five holders each, for exactly as many accounts.
    func testLeaseRaceBetweenProcesses() throws {
        let dir = NSTemporaryDirectory() + "race-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let policy = dir + "/ams.conf"
        try "pool p prefix=acct first=30000 count=80\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let tool = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/xos-ams").path
        guard FileManager.default.isExecutableFile(atPath: tool) else { throw XCTSkip("build xos-ams first (swift build)") }
        let script = (0..<16).map { k in
            "(for j in 1 2 3 4 5; do '\(tool)' lease --policy '\(policy)' --leases '\(dir)/leases' --pool p holder-\(k)-$j >/dev/null; done) &"
        }.joined(separator: "\n") + "\nwait"
        let sh = Process()
        sh.executableURL = URL(fileURLWithPath: "/bin/sh")
        sh.arguments = ["-c", script]
        try sh.run()
        sh.waitUntilExit()
        let list = try LeaseDirectory(path: dir + "/leases").list()
        XCTAssertEqual(list.count, 80, "every holder got an account")
        XCTAssertEqual(Set(list.map(\.account)).count, 80, "no account was leased twice")
        XCTAssertEqual(Set(list.map(\.holder)).count, 80, "no holder got two accounts")
    }
}
