import XCTest
@testable import LinuxKit

final class ProcCgroupTests: XCTestCase {
    func testLinesOfBothVersions() throws {
        let text = "12:net_prio:/\n4:memory:/process_api/0a1b\n10:name=zdtmtst:/sub:with:colons\n1:cpu,cpuacct:/\n0::/user.slice/u.scope\n"
        XCTAssertEqual(try ProcCgroup.parse(text), [
            ProcCgroup(controllers: "net_prio", path: "/"), ProcCgroup(controllers: "memory", path: "/process_api/0a1b"),
            ProcCgroup(controllers: "name=zdtmtst", path: "/sub:with:colons"), ProcCgroup(controllers: "cpu,cpuacct", path: "/"),
            ProcCgroup(controllers: "", path: "/user.slice/u.scope"),
        ])
        XCTAssertThrowsError(try ProcCgroup.parse("x:cpu:/\n"))
        XCTAssertThrowsError(try ProcCgroup.parse("3:cpu\n"))
        XCTAssertThrowsError(try ProcCgroup.parse("3:cpu:relative\n"))
    }

    func testOwnCgroupsAreReadable() throws {
        let mine = try ProcCgroup.read(pid: getpid(), tid: getpid())
        XCTAssertTrue(mine.contains { $0.controllers.isEmpty }, "no cgroup v2 line: \(mine)")
    }

    func testMountOptionsNameTheirHierarchy() {
        let known: Set<String> = ["cpu", "cpuacct", "pids", "memory"]
        XCTAssertTrue(ProcCgroup.mountShows("cpu,cpuacct", superOptions: "rw,cpu,cpuacct", known: known))
        XCTAssertFalse(ProcCgroup.mountShows("cpu", superOptions: "rw,cpu,cpuacct", known: known))
        XCTAssertTrue(ProcCgroup.mountShows("name=systemd", superOptions: "rw,xattr,name=systemd", known: known))
        XCTAssertFalse(ProcCgroup.mountShows("name=zdtmtst", superOptions: "rw,name=zdtmtst.defaultroot", known: known))
        XCTAssertFalse(ProcCgroup.mountShows("", superOptions: "rw", known: known))
    }
}
