import Glibc
import XCTest

/// The rest of BLCR's command-line contract: --backup, --kmsg-*, the
/// --run-on-* hooks, --omit-*, and --backend.
final class BLCRCommandLineTests: XCTestCase {
    var env: TestEnvironment!

    override func setUpWithError() throws { env = try TestEnvironment.get() }

    func tool(_ name: String) -> String { "\(env.bin)/\(name)" }

    func testBackupKeepsTheOldContextFile() throws {
        let work = env.workDir("backup", user: nil)
        let (target, pid) = try Fixture.start([tool("busyloop")], user: nil, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        let file = "\(work)/ctx"
        for _ in 0..<3 { XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "--backup", "-f", file, "\(pid)"]).code, 0) }
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "--backup=\(work)/kept", "-f", file, "\(pid)"]).code, 0)
        for f in [file, "\(file).~1~", "\(file).~2~", "\(work)/kept"] { XCTAssertEqual(access(f, F_OK), 0, "\(f) missing") }
        XCTAssertEqual(access("\(file).~3~", F_OK), -1)
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "--backup", "--noclobber", "-f", file, "\(pid)"]).code, 255)
    }

    /// A warning (a socket the user may not repair) is printed, except with --kmsg-none.
    func testKmsgNoneDropsWarnings() throws {
        guard let user = env.user else { throw XCTSkip("needs the test user") }
        let work = env.workDir("kmsg", user: user)
        let (target, pid) = try Fixture.start([tool("tcp"), "kept"], user: user, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        let loud = runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/a", "\(pid)"], user: user, cwd: work)
        XCTAssertTrue(loud.output.contains("TCP_REPAIR"), loud.output)
        let quiet = runTool([tool("cr_checkpoint"), "-p", "--kmsg-none", "-f", "\(work)/b", "\(pid)"], user: user, cwd: work)
        XCTAssertEqual(quiet.code, 0)
        XCTAssertEqual(quiet.output, "", quiet.output)
    }

    /// --run-on-success runs after the restart; a failure runs its class's hook, whose non-zero status becomes the exit code.
    func testRestartHooks() throws {
        let work = env.workDir("hooks", user: nil)
        let missing = "\(work)/no-such-image"
        // BLCR's cr_restart.c: a context file it cannot open is an argument failure (die(..., HOOK_FAIL_ARGS)).
        XCTAssertEqual(runTool([tool("cr_restart"), "--run-on-fail-args", "exit 9", missing]).code, 9)
        XCTAssertEqual(runTool([tool("cr_restart"), "--run-on-fail-env", "exit 9", missing]).code, ENOENT, "an unopenable file is not an environment failure")
        XCTAssertEqual(runTool([tool("cr_restart"), "--run-on-failure", "exit 0", missing]).code, ENOENT)
        // usage(): a command line that does not parse runs the args hook.
        XCTAssertEqual(runTool([tool("cr_restart"), "--run-on-fail-args", "exit 8", "--no-such-option", missing]).code, 8)
        XCTAssertEqual(runTool([tool("cr_restart"), "--run-on-failure=exit 7", "a", "b"]).code, 7)
        // failure(): a damaged context file's EINVAL is a permanent failure.
        let damaged = "\(work)/damaged"
        _ = "swiftcr? no".withCString { s in FileManager.default.createFile(atPath: damaged, contents: Data(bytes: s, count: 11)) }
        XCTAssertEqual(runTool([tool("cr_restart"), "--run-on-fail-perm", "exit 6", "--run-on-fail-args", "exit 5", damaged]).code, 6)
        let (path, _) = try Fixture.image(of: [tool("syscalls"), "pause"], in: work, bin: env.bin)
        let marker = "\(work)/hook-ran"
        let r = runTool([tool("cr_restart"), "--no-restore-pid", "--term", "--run-on-success", "touch \(marker)", path])
        XCTAssertEqual(r.code, 0, r.output)
        XCTAssertEqual(access(marker, F_OK), 0, "--run-on-success did not run")
    }

    /// A child omitted by its callback (cr_run --omit) is left out of the image; --omit-never refuses to restart it.
    func testOmittedProcessesAndOmitNever() throws {
        let work = env.workDir("omit", user: nil)
        let script = "\(tool("cr_run")) --omit \(tool("syscalls")) pause > /dev/null & exec \(tool("busyloop"))"
        let (target, pid) = try Fixture.start(["/bin/sh", "-c", script], user: nil, cwd: work)
        usleep(300_000)
        let image = "\(work)/ctx"
        let ck = runTool([tool("cr_checkpoint"), "--kill", "-f", image, "\(pid)"])
        XCTAssertEqual(ck.code, 0, ck.output)
        _ = target.wait(timeout: 10)
        signalDescendants(of: getpid(), SIGKILL)
        reapOrphans()
        let info = runTool([tool("swiftcr"), "inspect", image])
        XCTAssertEqual(info.output.components(separatedBy: "process:").count - 1, 1, "the omitted child is in the image: \(info.output)")
        let never = runTool([tool("cr_restart"), "--no-restore-pid", "--omit-never", image])
        XCTAssertEqual(never.code, 2362 & 0xff, never.output)
        XCTAssertTrue(never.output.contains("omitted"), never.output)
        let restart = try Child([tool("cr_restart"), "--no-restore-pid", "--term", image], cwd: work)
        let out = restart.readToEnd(timeout: 30)
        XCTAssertTrue(out.contains("omitted at checkpoint time") && out.contains("PASS"), out)
    }

    func testKernelBackendWithoutTheModuleIsAClearError() {
        let r = runTool([tool("cr_checkpoint"), "--backend", "kernel", "1"])
        XCTAssertEqual(r.code, ENOSYS, r.output)
        XCTAssertTrue(r.output.contains("BLCR's kernel module is not loaded"), r.output)
        XCTAssertEqual(r.output.split(separator: "\n").count, 1, r.output)
        XCTAssertEqual(runTool([tool("cr_restart"), "--backend", "kernel", "x"]).code, ENOSYS)
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "--backend", "bogus", "1"]).code, 255)
    }
}
