import Foundation
import Glibc
import XCTest

/// cr_restart --manage-cgroups (Fixtures/cgroups.c): processes go back into
/// their cgroups of the v2 hierarchy and of a v1 one, a thread into its own
/// v1 cgroup, and cgroups removed after the checkpoint are made again, with
/// the empty cgroups below them, their modes and owners, and (root) a v1
/// devices cgroup's rules. As a
/// user the fixture and cr_restart run in a subtree delegated to the user
/// (as systemd gives a user session); a cgroup the user may not enter fails
/// the restart in one line. Without the option they stay in cr_restart's (BLCR).
final class CgroupTests: XCTestCase {
    struct Bases {
        let v2: String; let v1: String?
        /// A v1 devices cgroup (root only: a user may not write device rules).
        var devices: String? = nil
        var all: [String] { [v2] + [v1, devices].compactMap { $0 } }
    }

    func testProcessesAndThreadsReturnToTheirCgroupsAsRootAndUser() throws {
        let env = try TestEnvironment.get()
        let seed = TestEnvironment.seed(for: "cgroups")
        for user in [nil, env.user] as [TestUser?] {
            let (work, bases) = try setUp("cgroups", user: user)
            defer { remove(bases, keepBases: false) }
            let image = try checkpoint(work: work, bases: bases, seed: seed, user: user)
            if user == nil { try checkInspected(image, bases: bases) }
            remove(bases, keepBases: true)  // every cgroup the fixture made is gone: the restart makes them
            let restart = try restarter(["--manage-cgroups", image], bases: bases, user: user, cwd: work)
            XCTAssertTrue(restart.read(until: "restored"), "cr_restart: \(restart.output)")
            kill(restart.pid, SIGTERM)
            let output = restart.readToEnd(timeout: 60)
            XCTAssertEqual(restart.wait(timeout: 10)?.code, 0, "as \(user?.name ?? "root"): \(output)")
            XCTAssertTrue(output.contains("PASS") && !output.contains("FAIL"), "as \(user?.name ?? "root"): \(output)")
            XCTAssertTrue(output.contains("cgroups made again"), "no note of the cgroups made: \(output)")
        }
    }

    /// Without --manage-cgroups the restored tree is in cr_restart's cgroups (the fixture notices).
    func testWithoutTheOptionTheyStayInRestartsCgroups() throws {
        let (work, bases) = try setUp("cgroups-stay", user: nil)
        defer { remove(bases, keepBases: false) }
        let image = try checkpoint(work: work, bases: bases, seed: 1, user: nil)
        let restart = try restarter([image], bases: bases, user: nil, cwd: work)
        XCTAssertTrue(restart.read(until: "restored"), "cr_restart: \(restart.output)")
        kill(restart.pid, SIGTERM)
        let output = restart.readToEnd(timeout: 60)
        _ = restart.wait(timeout: 10)
        XCTAssertTrue(output.contains("FAIL: parent: cgroups were"), "the fixture should see other cgroups: \(output)")
    }

    func testCgroupTheUserMayNotEnterFailsTheRestartInOneLine() throws {
        let env = try TestEnvironment.get()
        guard let user = env.user else { throw XCTSkip("no unprivileged test user") }
        let (work, bases) = try setUp("cgroups-denied", user: user)
        defer { remove(bases, keepBases: false) }
        let image = try checkpoint(work: work, bases: bases, seed: 2, user: user)
        remove(bases, keepBases: true)
        // The delegation is taken back: the user may no longer make cgroups there.
        chown(bases.v2, 0, 0)
        let restart = try restarter(["--manage-cgroups", image], bases: bases, user: user, cwd: work)
        let output = restart.readToEnd(timeout: 60)
        let status = restart.wait(timeout: 10)
        XCTAssertNotEqual(status?.code ?? 0, 0, output)
        let lines = output.split(separator: "\n").filter { !$0.contains("waiting up to") }
        XCTAssertEqual(lines.count, 1, "expected one line: \(output)")
        XCTAssertTrue(output.contains("cannot put process") && output.contains("Permission denied"), output)
        XCTAssertFalse(fixtureRuns(as: user.uid), "a process of the failed restart is left")
    }

    /// --cgroup-root (CRIU's): the checkpoint saves cgroups as seen from a
    /// root in each hierarchy, the restart makes them under another one (a
    /// batch system moving a job between its cgroups); a process outside the
    /// checkpoint's root is refused in one line, the process left running.
    func testCgroupRootMovesTheJobUnderAnotherCgroup() throws {
        let env = try TestEnvironment.get()
        let (work, bases) = try setUp("cgroot", user: nil)
        let moved = Bases(v2: bases.v2 + "-moved", v1: bases.v1.map { $0 + "-moved" })
        defer { remove(bases, keepBases: false); remove(moved, keepBases: false) }
        let seed = TestEnvironment.seed(for: "cgroup-root")
        let job = "/job\(seed % 100)/step\(seed / 100 % 10)"
        let all = [bases.v2] + (bases.v1.map { [$0] } ?? [])
        for base in all { XCTAssertEqual(Glibc.system("mkdir -p '\(base)\(job)'"), 0) }
        let enter = all.map { "echo $$ > '\($0)\(job)/cgroup.procs'" }.joined(separator: " && ")
        let (target, pid) = try Fixture.start(["/bin/sh", "-c", "\(enter) && exec \"$0\"", "\(env.bin)/busyloop"], user: nil, cwd: work)
        let name = { (path: String) in String(path.split(separator: "/").last ?? "") }
        let roots = ["--cgroup-root", "cgroup2:/\(name(bases.v2))"] + (bases.v1.map { ["--cgroup-root", "pids:/\(name($0))"] } ?? [])
        // Outside the root given: refused, the process runs on.
        let refused = runTool(["\(env.bin)/cr_checkpoint", "--kill", "--cgroup-root", "cgroup2:/elsewhere", "-f", "\(work)/refused", "\(pid)"])
        XCTAssertNotEqual(refused.code, 0)
        XCTAssertTrue(refused.output.contains("not below --cgroup-root /elsewhere") && refused.output.split(separator: "\n").count == 1, refused.output)
        XCTAssertEqual(kill(pid, 0), 0, "the refused checkpoint's target is gone")
        let image = "\(work)/context.\(pid)"
        let ck = runTool(["\(env.bin)/cr_checkpoint", "--kill"] + roots + ["-f", image, "\(pid)"])
        XCTAssertEqual(ck.code, 0, ck.output)
        _ = target.wait(timeout: 10)
        reapOrphans()
        var newRoots = ["--cgroup-root", "cgroup2:/\(name(moved.v2))"] + (moved.v1.map { ["--cgroup-root", "pids:/\(name($0))"] } ?? [])
        // The process was in a v1 cpuset hierarchy's root: the cpuset made for
        // it under a new root has no saved CPUs and takes its parent's (else
        // it takes no task: ENOSPC).
        let cpuset = cpusetMount().map { "\($0)/\(name(moved.v2))" }
        if cpuset != nil { newRoots += ["--cgroup-root", "cpuset:/\(name(moved.v2))"] }
        defer { if let cpuset { for _ in 0..<50 where rmdir(cpuset) != 0 && errno == EBUSY { usleep(20_000) } } }
        let restart = try Child(["\(env.bin)/cr_restart", "--verbose", "--manage-cgroups"] + newRoots + [image], cwd: work)
        XCTAssertTrue(restart.read(until: "restored"), "cr_restart: \(restart.output)")
        let cgroups = (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
        XCTAssertTrue(cgroups.contains("0::/\(name(moved.v2))\(job)\n"), "v2: \(cgroups)")
        if let v1 = moved.v1 { XCTAssertTrue(cgroups.contains(":pids:/\(name(v1))\(job)\n"), "v1: \(cgroups)") }
        if cpuset != nil { XCTAssertTrue(cgroups.contains(":cpuset:/\(name(moved.v2))\n"), "cpuset: \(cgroups)") }
        kill(restart.pid, SIGTERM)
        let output = restart.readToEnd(timeout: 30)
        _ = restart.wait(timeout: 10)
        XCTAssertTrue(output.contains("PASS"), output)
    }

    /// Where a v1 cpuset hierarchy is mounted, if one is.
    func cpusetMount() -> String? {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        for line in mounts.split(separator: "\n") {
            let f: [Substring] = line.split(separator: " ")
            guard f.count > 3, f[2] == "cgroup" else { continue }
            if f[3].split(separator: ",").contains("cpuset") { return String(f[1]) }
        }
        return nil
    }

    /// swiftcr inspect --json shows the saved cgroups: the empty ones below
    /// the parent's with their owners, and the devices cgroup's rules.
    func checkInspected(_ image: String, bases: Bases) throws {
        let env = try TestEnvironment.get()
        let r = runTool(["\(env.bin)/swiftcr", "inspect", "--json", image])
        XCTAssertEqual(r.code, 0, r.output)
        guard let json = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any],
              let saved = json["cgroupSettings"] as? [[String: Any]] else { return XCTFail("no cgroupSettings in \(r.output.prefix(300))") }
        let empties = saved.filter { ($0["path"] as? String)?.contains("/empty0") == true }
        XCTAssertFalse(empties.isEmpty, "no empty cgroup listed")
        for e in empties { XCTAssertNotNil(e["owner"] as? [String: Any], "\(e)") }
        if bases.devices != nil {
            let rules = saved.first { ($0["path"] as? String)?.hasSuffix("/devrules") == true }?["deviceRules"] as? [String]
            XCTAssertEqual(rules, ["c 1:3 rwm", "b 7:* r"])
        }
        let text = runTool(["\(env.bin)/swiftcr", "inspect", image]).output
        XCTAssertTrue(text.contains("cgroups:   \(saved.count) saved for cr_restart --manage-cgroups"), text)
    }

    // MARK: - Helpers

    /// A work directory and fresh cgroups for the fixture (a user's delegated to it).
    func setUp(_ label: String, user: TestUser?) throws -> (String, Bases) {
        let env = try TestEnvironment.get()
        guard env.isRoot else { throw XCTSkip("making cgroups needs root") }
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        func mountPoint(_ type: String, option: String?) -> String? {
            for line in mounts.split(separator: "\n") {
                let halves = line.components(separatedBy: " - ")
                guard halves.count == 2 else { continue }
                let tail = halves[1].split(separator: " ")
                guard tail.first.map(String.init) == type else { continue }
                if let option, !(tail.last ?? "").split(separator: ",").contains(Substring(option)) { continue }
                return String(halves[0].split(separator: " ")[4])
            }
            return nil
        }
        guard let v2 = mountPoint("cgroup2", option: nil) else { throw XCTSkip("no cgroup v2 hierarchy mounted") }
        let name = "swiftcr-\(label)-\(getpid())"
        let bases = Bases(v2: "\(v2)/\(name)", v1: mountPoint("cgroup", option: "pids").map { "\($0)/\(name)" },
                          devices: user == nil ? mountPoint("cgroup", option: "devices").map { "\($0)/\(name)" } : nil)
        for (dir, files) in [(bases.v2, ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"]),
                             (bases.v1, ["cgroup.procs", "tasks"]), (bases.devices, [])] {
            guard let dir else { continue }
            XCTAssertEqual(mkdir(dir, 0o755), 0, "mkdir \(dir): \(errno)")
            if let u = user { for path in [dir] + files.map({ "\(dir)/\($0)" }) { chown(path, u.uid, u.gid) } }
        }
        return (env.workDir(label, user: user), bases)
    }

    /// Starts the fixture inside the bases, checkpoints its tree with --kill; the image's path.
    func checkpoint(work: String, bases: Bases, seed: UInt64, user: TestUser?) throws -> String {
        let env = try TestEnvironment.get()
        let target = try Child(inside(bases, user: user, ["\(env.bin)/cgroups", "\(seed)", bases.v2, bases.v1 ?? "-", bases.devices ?? "-"]), cwd: work)
        XCTAssertTrue(target.read(until: "READY"), "cgroups did not start: \(target.output)")
        guard let pid = target.output.split(separator: "\n").first(where: { $0.hasPrefix("READY") }).flatMap({ pid_t($0.split(separator: " ").last ?? "") }) else {
            throw TestFailure("no PID in '\(target.output)'")
        }
        let image = "\(work)/context.\(pid)"
        let ck = runTool(["\(env.bin)/cr_checkpoint", "--tree", "--kill", "-f", image, "\(pid)"], user: user, cwd: work)
        XCTAssertEqual(ck.code, 0, "cr_checkpoint: \(ck.output)")
        _ = target.wait(timeout: 10)
        reapOrphans()
        return image
    }

    /// cr_restart -v with `arguments`: as root from the test's own cgroups;
    /// as a user from inside its delegated subtree (a user may move tasks
    /// only between cgroups under one it may write).
    func restarter(_ arguments: [String], bases: Bases, user: TestUser?, cwd: String) throws -> Child {
        let env = try TestEnvironment.get()
        let argv = ["\(env.bin)/cr_restart", "--verbose"] + arguments
        return try Child(user == nil ? argv : inside(bases, user: user, argv), cwd: cwd)
    }

    /// ARGV run in the bases' cgroups (moved there by root), as `user`.
    func inside(_ bases: Bases, user: TestUser?, _ argv: [String]) -> [String] {
        let moves = bases.all.map { "echo $$ > '\($0)/cgroup.procs'" }.joined(separator: " && ")
        let drop = user.map { ["/usr/bin/setpriv", "--reuid=\($0.uid)", "--regid=\($0.gid)", "--clear-groups", "--"] } ?? []
        return ["/bin/sh", "-c", "\(moves) && exec \"$@\"", "sh"] + drop + argv
    }

    /// Removes every cgroup under the bases (deepest first), and the bases too unless kept.
    func remove(_ bases: Bases, keepBases: Bool) {
        for base in bases.all {
            var dirs: [String] = []
            var frontier = [base]
            while let d = frontier.popLast() {
                dirs.append(d)
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []
                for e in entries where !e.contains(".") && !e.hasPrefix("tasks") {
                    var isDir: ObjCBool = false
                    if FileManager.default.fileExists(atPath: "\(d)/\(e)", isDirectory: &isDir), isDir.boolValue { frontier.append("\(d)/\(e)") }
                }
            }
            for d in dirs.reversed() where !(keepBases && d == base) {
                for _ in 0..<50 where rmdir(d) != 0 && errno == EBUSY { usleep(20_000) }  // its tasks may still be exiting
            }
        }
    }

    func fixtureRuns(as uid: uid_t) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }.contains { p in
            var st = stat()
            return (try? String(contentsOfFile: "/proc/\(p)/comm", encoding: .utf8)) == "cgroups\n" && stat("/proc/\(p)", &st) == 0 && st.st_uid == uid
        }
    }
}
