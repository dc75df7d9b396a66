import Glibc
import XCTest

/// BLCR's command-line behaviour: default file name and mode, replacement
/// modes, scope checks; and swiftcr's own check and demo commands.
final class CommandTests: XCTestCase {
    var env: TestEnvironment!

    override func setUpWithError() throws { env = try TestEnvironment.get() }

    func tool(_ name: String) -> String { "\(env.bin)/\(name)" }

    func testDefaultContextFileInCwdWithMode0400() throws {
        let work = env.workDir("default-name", user: nil)
        let (target, pid) = try Fixture.start([tool("memory"), work + "/m.data"], user: nil, cwd: work)
        let r = runTool([tool("cr_checkpoint"), "-p", "\(pid)"], cwd: work)
        XCTAssertEqual(r.code, 0, r.output)
        var st = stat()
        XCTAssertEqual(stat("\(work)/context.\(pid)", &st), 0, "no ./context.\(pid)")
        XCTAssertEqual(st.st_mode & 0o777, 0o400)
        XCTAssertNotEqual(access("\(work)/.context.\(pid).tmp", F_OK), 0, "temporary file left behind")
        // --run is the default: the target is still there and intact.
        kill(pid, SIGTERM)
        XCTAssertTrue(target.read(until: "PASS"), target.output)
    }

    func testNoclobberRefusesAnExistingFile() throws {
        let work = env.workDir("noclobber", user: nil)
        let (target, pid) = try Fixture.start([tool("memory"), work + "/m.data"], user: nil, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        let path = "\(work)/existing"
        close(open(path, O_CREAT | O_WRONLY, 0o644))
        let r = runTool([tool("cr_checkpoint"), "-p", "--noclobber", "-f", path, "\(pid)"])
        XCTAssertEqual(r.code, EEXIST, r.output)
        var st = stat()
        stat(path, &st)
        XCTAssertEqual(st.st_size, 0, "--noclobber overwrote the file")
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "--clobber", "-f", path, "\(pid)"]).code, 0)
        stat(path, &st)
        XCTAssertGreaterThan(st.st_size, 4096)
    }

    /// A user's --clobber over an earlier image of its own (made read-only,
    /// 0400): the old one goes and a new one is written, as BLCR's
    /// cr_checkpoint does (BLCR's clobber test, as a user).
    func testClobberReplacesAReadOnlyImageAsAUser() throws {
        guard let user = env.user else { throw XCTSkip("no unprivileged test user") }
        let work = env.workDir("clobber-user", user: user)
        let (target, pid) = try Fixture.start([tool("busyloop")], user: user, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        let path = "\(work)/image"
        for round in 1...2 {
            let r = runTool([tool("cr_checkpoint"), "-p", "--clobber", "-f", path, "\(pid)"], user: user, cwd: work)
            XCTAssertEqual(r.code, 0, "round \(round): \(r.output)")
        }
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_uid, user.uid)
    }

    /// -p takes the process alone; the default scope (BLCR's --tree) takes its children too.
    func testScopeDecidesWhichProcessesAreSaved() throws {
        let work = env.workDir("scope", user: nil)
        let shell = try Child(["/bin/sh", "-c", "sleep 30 & echo READY $$; wait"], cwd: work)
        defer { signalDescendants(of: shell.pid, SIGKILL); kill(shell.pid, SIGKILL); _ = shell.wait(timeout: 5) }
        XCTAssertTrue(shell.read(until: "READY"))
        usleep(100_000)
        for (flag, expected) in [("-p", 1), ("--tree", 2)] {
            let image = "\(work)/ctx\(flag)"
            XCTAssertEqual(runTool([tool("cr_checkpoint"), flag, "-f", image, "\(shell.pid)"]).code, 0)
            let inspect = runTool([tool("swiftcr"), "inspect", image])
            XCTAssertEqual(inspect.output.components(separatedBy: "\nprocess:").count - 1, expected, inspect.output)
            XCTAssertTrue(inspect.output.contains("process:   \(shell.pid) sh"), inspect.output)
        }
        let missing = runTool([tool("cr_checkpoint"), "-g", "4000000"])
        XCTAssertEqual(missing.code, ESRCH, missing.output)
    }

    /// BLCR's ptrace rules: a ptraced target is CR_EPTRACED (2360 & 0xFF),
    /// a tracer is CR_EPTRACER (2361 & 0xFF); both stay untouched.
    func testPtracedAndPtracerTargetsAreRefused() throws {
        let work = env.workDir("ptrace", user: nil)
        let pair = try Child([tool("tracer")], cwd: work)
        XCTAssertTrue(pair.read(until: "READY"), pair.output)
        let ids = pair.output.split(separator: "\n")[0].split(separator: " ").compactMap { pid_t($0) }
        guard ids.count == 2 else { return XCTFail(pair.output) }
        let traced = runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/a", "\(ids[1])"])
        XCTAssertEqual(traced.code, 2360 & 0xFF, traced.output)
        XCTAssertTrue(traced.output.contains("is being ptraced by \(ids[0])"), traced.output)
        let allowed = runTool([tool("cr_checkpoint"), "-p", "--ptraced-allow", "-f", "\(work)/b", "\(ids[1])"])
        XCTAssertEqual(allowed.code, 2360 & 0xFF, allowed.output)
        let tracer = runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/c", "\(ids[0])"])
        XCTAssertEqual(tracer.code, 2361 & 0xFF, tracer.output)
        XCTAssertTrue(tracer.output.contains("ptraces \(ids[1])"), tracer.output)
        kill(pair.pid, SIGTERM)
        XCTAssertTrue(pair.read(until: "PASS"), "the tracer was disturbed: \(pair.output)")
    }

    func testCheckFindsTheEssentialsForRootAndUser() throws {
        for user in [nil, env.user] {
            let r = runTool([tool("swiftcr"), "check"], user: user, cwd: "/tmp")
            XCTAssertEqual(r.code, 0, r.output)
            for probe in ["ptrace seize/interrupt", "syscall injection", "PR_SET_MM_MAP", "vDSO layout"] {
                XCTAssertTrue(r.output.contains("ok    \(probe)"), "\(probe): \(r.output)")
            }
            if user != nil { XCTAssertTrue(r.output.contains("no    clone3 set_tid"), r.output) }
            // This machine lets users make namespaces in a user namespace (as a user's restart does).
            XCTAssertTrue(r.output.contains(user == nil ? "made directly" : "made in a user namespace"), r.output)
        }
    }

    func testDemoCounterContinuesAfterRestart() throws {
        let work = env.workDir("demo", user: env.isRoot ? nil : env.user)
        let r = runTool([tool("swiftcr"), "demo", "--seconds", "2", "--dir", work])
        XCTAssertEqual(r.code, 0, r.output)
        XCTAssertTrue(r.output.contains("PASS: the restarted counter went on from"), r.output)
    }

    /// Without --dir the demo works in a directory of its own and removes it (and the image) at the end.
    func testDemoLeavesNothingBehind() throws {
        let r = runTool([tool("swiftcr"), "demo", "--seconds", "1"])
        XCTAssertEqual(r.code, 0, r.output)
        guard let line = r.output.split(separator: "\n").first(where: { $0.contains("its state is in ") }) else { return XCTFail(r.output) }
        let image = String(line.components(separatedBy: "its state is in ").last ?? "")
        let dir = String(image[..<(image.lastIndex(of: "/") ?? image.endIndex)])
        XCTAssertTrue(dir.hasPrefix("/tmp/swiftcr-demo."), dir)
        XCTAssertEqual(access(dir, F_OK), -1, "\(dir) was left behind")
    }
}
