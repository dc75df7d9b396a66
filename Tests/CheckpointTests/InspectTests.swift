import Foundation
import CheckpointImage
import Glibc
import XCTest

/// swiftcr inspect (views, --pages, --json), verify, diff and core, on real
/// images, and hostile files given to each of them and to cr_restart.
final class InspectTests: XCTestCase {
    var env: TestEnvironment!

    override func setUpWithError() throws { env = try TestEnvironment.get() }

    func tool(_ name: String) -> String { "\(env.bin)/\(name)" }

    func image(_ argv: [String], _ name: String) throws -> (String, pid_t) {
        try Fixture.image(of: argv, in: env.workDir(name, user: nil), bin: env.bin)
    }

    /// A process in a mount namespace of its own: inspect lists the
    /// namespace's mounts and how each comes back, as text and JSON.
    func testMountNamespacesAreListed() throws {
        guard env.isRoot else { throw XCTSkip("the fixture's namespace needs root here (a user's needs its own user namespace too)") }
        let work = env.workDir("inspect-mountns", user: nil)
        let (path, pid) = try Fixture.image(of: [tool("mountns"), "5", work], in: work, bin: env.bin)
        // Its child, outside the image, is left waiting for a SIGTERM.
        defer {
            runTool(["/usr/bin/pkill", "-KILL", "-f", "mountns 5 \(work)"])
            reapOrphans()
        }
        let r = runTool([tool("swiftcr"), "inspect", "--json", path])
        XCTAssertEqual(r.code, 0, r.output)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        let namespaces = try XCTUnwrap(doc["mountNamespaces"] as? [[String: Any]])
        XCTAssertEqual(namespaces.count, 1, r.output)
        XCTAssertEqual(namespaces.first?["processes"] as? [Int], [Int(pid)])
        let mounts = try XCTUnwrap(namespaces.first?["mounts"] as? [[String: Any]])
        let outer = mounts.first { ($0["mountPoint"] as? String) == work + "/outer" }
        XCTAssertEqual(outer?["plan"] as? String, "new", "\(mounts)")
        XCTAssertEqual(outer?["files"] as? Int, 1, "the kept file")
        XCTAssertEqual(mounts.first { ($0["mountPoint"] as? String) == "/" }?["plan"] as? String, "inherited")
        let text = runTool([tool("swiftcr"), "inspect", path])
        XCTAssertTrue(text.output.contains("mount ns:  1, processes \(pid): \(mounts.count) mounts"), text.output)
        XCTAssertTrue(text.output.contains("\(work)/outer: tmpfs outer, made anew with 1 files (11 bytes)"), text.output)
    }

    /// Peer groups and masters of a namespace's mounts, in JSON
    /// (Fixtures/propagation.c: a shared "a" with its peer "b" and slave "c").
    func testMountGroupsAreListed() throws {
        guard env.isRoot else { throw XCTSkip("as for testMountNamespacesAreListed") }
        let work = env.workDir("inspect-propagation", user: nil)
        let (path, _) = try Fixture.image(of: [tool("propagation"), "2", work], in: work, bin: env.bin)
        defer {
            runTool(["/usr/bin/pkill", "-KILL", "-f", "propagation 2 \(work)"])
            reapOrphans()
        }
        let r = runTool([tool("swiftcr"), "inspect", "--json", path])
        XCTAssertEqual(r.code, 0, r.output)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        let mounts = try XCTUnwrap((doc["mountNamespaces"] as? [[String: Any]])?.first?["mounts"] as? [[String: Any]])
        func mount(_ name: String) -> [String: Any]? { mounts.first { ($0["mountPoint"] as? String) == "\(work)/prop/\(name)" } }
        let group = try XCTUnwrap(mount("a")?["peerGroup"] as? Int, "\(mounts)")
        XCTAssertNotEqual(group, 0)
        XCTAssertEqual(mount("b")?["peerGroup"] as? Int, group)
        XCTAssertEqual(mount("c")?["peerGroup"] as? Int, 0)
        XCTAssertEqual(mount("c")?["masterGroup"] as? Int, group)
        XCTAssertEqual(mount("e")?["peerGroup"] as? Int, 0)
    }

    /// UTS, IPC and network namespaces of a process's own, in text and JSON.
    func testOtherNamespacesAreListed() throws {
        guard env.isRoot else { throw XCTSkip("reading another IPC namespace needs root") }
        for (fixture, key, line) in [("utsns", "utsNamespaces", "uts ns:    1, processes"), ("ipcns", "ipcNamespaces", "ipc ns:    1, processes"),
                                     ("netns", "netNamespaces", "net ns:    1, processes")] {
            let work = env.workDir("inspect-\(fixture)", user: nil)
            let (path, pid) = try Fixture.image(of: [tool(fixture), "4"], in: work, bin: env.bin)
            defer {
                runTool(["/usr/bin/pkill", "-KILL", "-f", "\(fixture) 4"])
                reapOrphans()
                // The killed ipcns child leaves its objects in our namespace (Fixtures/ipcns.c's key for seed 4).
                let key = "0x" + String(0x5c00_0000 | (UInt32(4) &* 2_654_435_761 & 0xff_ffff), radix: 16)
                if fixture == "ipcns" { runTool(["/usr/bin/ipcrm", "-M", key, "-S", key, "-Q", key]) }
            }
            let r = runTool([tool("swiftcr"), "inspect", "--json", path])
            let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any], r.output)
            let namespaces = try XCTUnwrap(doc[key] as? [[String: Any]], "\(key): \(r.output)")
            XCTAssertEqual(namespaces.first?["processes"] as? [Int], [Int(pid)], "\(fixture): \(namespaces)")
            if fixture == "utsns" { XCTAssertEqual(namespaces.first?["hostname"] as? String, "swcr-4") }
            if fixture == "ipcns" { XCTAssertEqual(namespaces.first?["sysvObjects"] as? Int, 3) }
            if fixture == "netns" { XCTAssertEqual(namespaces.first?["loopbackUp"] as? Bool, true) }
            let text = runTool([tool("swiftcr"), "inspect", path]).output
            XCTAssertTrue(text.contains("\(line) \(pid):"), text)
        }
    }

    /// A user namespace of the tree's own, in text and JSON: its processes, maps, setgroups, owner and
    /// the namespaces of theirs it owns (Fixtures/userns.c, seed 9 as root, its mount namespace inside).
    func testUserNamespacesAreListed() throws {
        guard env.isRoot else { throw XCTSkip("userns writes a map of far IDs as root") }
        let work = env.workDir("inspect-userns", user: nil)
        let (target, pid) = try Fixture.start([tool("userns"), "9", "mounts"], user: nil, cwd: work)
        defer { kill(pid, SIGTERM); _ = target.readToEnd(timeout: 10) }
        let image = "\(work)/ctx"
        let c = runTool([tool("cr_checkpoint"), "--tree", "-f", image, "\(pid)"], cwd: work)
        XCTAssertEqual(c.code, 0, c.output)
        let r = runTool([tool("swiftcr"), "inspect", "--json", image])
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any], r.output)
        let namespaces = try XCTUnwrap(doc["userNamespaces"] as? [[String: Any]], r.output)
        XCTAssertEqual(namespaces.count, 1, "\(namespaces)")
        // Seed 9: uids 0 -> 730000 (10 of them) and 69999 -> 799999, gids 0 -> 830000 (10), setgroups denied, owner 730000.
        XCTAssertEqual((namespaces.first?["processes"] as? [Int])?.count, 2, "\(namespaces)")
        let uids = try XCTUnwrap(namespaces.first?["uidMap"] as? [[String: Int]], "\(namespaces)")
        XCTAssertEqual(uids, [["inside": 0, "outside": 730000, "count": 10], ["inside": 69999, "outside": 799999, "count": 1]])
        XCTAssertEqual(namespaces.first?["setgroupsAllowed"] as? Bool, false)
        XCTAssertEqual(namespaces.first?["owner"] as? Int, 730000)
        XCTAssertEqual(namespaces.first?["owns"] as? [String], ["mount"])
        let text = runTool([tool("swiftcr"), "inspect", image]).output
        XCTAssertTrue(text.contains("user ns:   1, processes ") && text.contains("uids 0->730000x10 69999->799999x1, gids 0->830000x10, setgroups deny, owner 730000, owns their mount namespaces"), text)
        kill(pid, SIGTERM)
        XCTAssertTrue(target.read(until: "PASS"), target.output)
    }

    func testJSONFollowsTheDocumentedSchema() throws {
        let (path, pid) = try image([tool("threads")], "json")
        let r = runTool([tool("swiftcr"), "inspect", "--json", path])
        XCTAssertEqual(r.code, 0, r.output)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        let format = try XCTUnwrap(doc["format"] as? [String: Any])
        XCTAssertEqual(format["major"] as? Int, 1)
        XCTAssertEqual(format["minor"] as? Int, Int(ImageFormat.minor))
        let process = try XCTUnwrap((doc["processes"] as? [[String: Any]])?.first)
        XCTAssertEqual(process["pid"] as? Int, Int(pid))
        for key in ["ppid", "pgid", "sid"] { XCTAssertNotNil(process[key] as? Int, key) }
        XCTAssertEqual(process["command"] as? String, "threads")
        let threads = try XCTUnwrap(process["threads"] as? [[String: Any]])
        XCTAssertEqual(threads.count, 9)
        let registers = try XCTUnwrap(threads[0]["registers"] as? [String: Any])
        XCTAssertEqual(registers.count, 27)
        XCTAssertNotNil(registers["rip"] as? NSNumber)
        XCTAssertNotNil(registers["rsp"] as? NSNumber)
        let scheduling = try XCTUnwrap(threads[0]["scheduling"] as? [String: Any])
        XCTAssertEqual(scheduling["policy"] as? String, "SCHED_OTHER")
        XCTAssertEqual(scheduling["resetOnFork"] as? Bool, false)
        XCTAssertNil(scheduling["runtime"], "a reservation is SCHED_DEADLINE's only")
        let mappings = try XCTUnwrap(process["mappings"] as? [[String: Any]])
        XCTAssertTrue(mappings.contains { ($0["path"] as? String) == "[stack]" })
        XCTAssertTrue(mappings.contains { $0["path"] is NSNull }, "an anonymous mapping's path is null")
        for m in mappings {
            XCTAssertNotNil(m["start"] as? NSNumber)
            XCTAssertNotNil(m["savedPages"] as? Int)
            XCTAssertNotNil((m["protection"] as? String).flatMap { $0.range(of: "^[r-][w-][x-][ps]$", options: .regularExpression) })
        }
        let fds = try XCTUnwrap(process["fds"] as? [[String: Any]])
        XCTAssertTrue(fds.contains { ($0["fd"] as? Int) == 0 && $0["type"] is String && $0["offset"] is Int && $0["flags"] is Int })
    }

    func testViewsAndPages() throws {
        let sample = TestEnvironment.repoRoot + "/Fixtures/images/sample-v1.1.swiftcr"
        let pages = runTool([tool("swiftcr"), "inspect", sample, "--pages", "0x600000", "32"])
        XCTAssertEqual(pages.code, 0, pages.output)
        XCTAssertTrue(pages.output.hasPrefix("000000600000  01 01 01"), pages.output)
        XCTAssertTrue(runTool([tool("swiftcr"), "inspect", sample, "--pages", "0x500000"]).output.contains("outside every mapping"))
        let views = runTool([tool("swiftcr"), "inspect", "--tree", "--threads", "--signals", "--fds", "--mappings", sample])
        for text in ["tree:", "4243 <zombie>", "rip 0x", "handler 0x401234", "/tmp/data", "[heap]"] {
            XCTAssertTrue(views.output.contains(text), "\(text) missing: \(views.output)")
        }
    }

    func testDiffShowsWhatChanged() throws {
        let work = env.workDir("diff", user: nil)
        let (target, pid) = try Fixture.start([tool("busyloop")], user: nil, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/a", "\(pid)"]).code, 0)
        usleep(100_000)
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/b", "\(pid)"]).code, 0)
        let same = runTool([tool("swiftcr"), "diff", "\(work)/a", "\(work)/a"])
        XCTAssertEqual(same.code, 0, same.output)
        let d = runTool([tool("swiftcr"), "diff", "\(work)/a", "\(work)/b"])
        XCTAssertEqual(d.code, 1, d.output)
        XCTAssertTrue(d.output.contains("page(s) changed") || d.output.contains(": thread "), "a busy loop's state should differ: \(d.output)")
    }

    /// Each descriptor's kind state is in the JSON (as "state") and in diff,
    /// field for field as its payload record declares them: the v1.2 sample
    /// holds one descriptor of every kind that has a record.
    func testDescriptorStateFollowsItsRecord() throws {
        let sample = TestEnvironment.repoRoot + "/Fixtures/images/sample-v1.2.swiftcr"
        let r = runTool([tool("swiftcr"), "inspect", "--json", sample])
        XCTAssertEqual(r.code, 0, r.output)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        let fds = try XCTUnwrap(((doc["processes"] as? [[String: Any]])?.first)?["fds"] as? [[String: Any]])
        let states = Dictionary(uniqueKeysWithValues: fds.compactMap { f in (f["state"] as? [String: Any]).map { (f["type"] as? String ?? "", $0) } })
        XCTAssertEqual(Set(states.keys), ["eventfd", "signalfd", "timerfd", "epoll", "unix socket", "inet socket", "fifo", "memfd", "inotify", "tcp"])
        XCTAssertEqual(states["timerfd"]?["ticks"] as? Int, 2)
        XCTAssertEqual(states["unix socket"]?["address"] as? String, Array("/run/sample.sock".utf8).map { String(format: "%02x", $0) }.joined())
        XCTAssertEqual((states["inotify"]?["watches"] as? [[String: Any]])?.first?["path"] as? String, "/tmp")
        XCTAssertEqual((states["tcp"]?["queues"] as? [String: Any])?["send"] as? String, "756e61636b6564")  // "unacked"
        XCTAssertNil(fds.first { ($0["type"] as? String) == "file" }?["state"], "a regular file has no state record")
    }

    /// gdb on the exported core shows the call chain, memory, and both threads.
    func testCoreOpensInGDB() throws {
        guard access("/usr/bin/gdb", X_OK) == 0 else { throw XCTSkip("gdb is not installed") }
        let (path, _) = try image([tool("coredump")], "core")
        let core = path + ".core"
        let r = runTool([tool("swiftcr"), "core", path, "-o", core])
        XCTAssertEqual(r.code, 0, r.output)
        let gdb = runTool(["/usr/bin/gdb", "-batch", "-ex", "bt", "-ex", "x/s &marker", "-ex", "info threads", tool("coredump"), core], timeout: 60)
        for text in ["level3", "level2", "main", "\"swiftcr core marker\"", "2    Thread"] {
            XCTAssertTrue(gdb.output.contains(text), "\(text) missing from gdb: \(gdb.output)")
        }
        // The XSAVE note as long as its XCR0 says, and the vDSO's bytes there for gdb to read.
        for complaint in ["too small", "Unexpected size", "Failed to read a valid object file image from memory"] {
            XCTAssertFalse(gdb.output.contains(complaint), gdb.output)
        }
    }

    /// Damaged and foreign files: one clear line from every reader, never a crash.
    func testHostileFilesGiveCleanErrors() throws {
        let work = env.workDir("hostile", user: nil)
        let sample = TestEnvironment.repoRoot + "/Fixtures/images/sample-v1.1.swiftcr"
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: sample)))
        var cases: [(String, [UInt8], String)] = [
            ("truncated", Array(bytes.prefix(bytes.count / 2)), "the file has"),
            ("wrong-magic", [UInt8]("NOTANIMG".utf8) + Array(bytes.dropFirst(8)), "not a swiftcr image"),
            ("random", (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }, "not a swiftcr image"),
            ("empty", [], "not a swiftcr image"),
        ]
        var newer = bytes
        newer[8] = 9  // major 9
        cases.append(("newer-major", newer, "newer than this swiftcr reads"))
        var flipped = bytes
        flipped[bytes.count / 3] ^= 0x10
        cases.append(("flipped", flipped, "checksum mismatch"))
        for (name, content, expected) in cases {
            let path = "\(work)/\(name)"
            FileManager.default.createFile(atPath: path, contents: Data(content))
            let v = runTool([tool("swiftcr"), "verify", path])
            XCTAssertEqual(v.code, EINVAL, "\(name): \(v.output)")
            XCTAssertTrue(v.output.contains(expected), "\(name): \(v.output)")
            for argv in [[tool("swiftcr"), "inspect", path], [tool("cr_restart"), path], [tool("swiftcr"), "core", path, "-o", path + ".core"]] {
                let r = runTool(argv)
                XCTAssertNotEqual(r.code, 0, "\(name) \(argv[1]): \(r.output)")
                XCTAssertTrue(r.code < 128, "\(name) \(argv[1]) crashed: \(r.code) \(r.output)")
                XCTAssertEqual(r.output.split(separator: "\n").count, 1, "\(name) \(argv[1]): one line expected: \(r.output)")
            }
        }
        let sound = runTool([tool("swiftcr"), "verify", sample])
        XCTAssertEqual(sound.code, 0, sound.output)
    }
}
