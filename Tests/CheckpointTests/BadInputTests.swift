import Glibc
import CheckpointImage
import LinuxKit
import XCTest

/// Bad input gets one line on stderr and BLCR's exit code; a checkpoint that
/// fails half way leaves its target running as before and no image behind.
final class BadInputTests: XCTestCase {
    var env: TestEnvironment!

    override func setUpWithError() throws { env = try TestEnvironment.get() }

    func tool(_ name: String) -> String { "\(env.bin)/\(name)" }

    func assertOneLine(_ output: String, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        let lines = output.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "expected one line: \(output)", file: file, line: line)
        XCTAssertTrue(output.contains(text), "expected '\(text)' in: \(output)", file: file, line: line)
    }

    func testMissingPIDExitsESRCH() {
        let r = runTool([tool("cr_checkpoint"), "-p", "4000000"])
        XCTAssertEqual(r.code, 3)
        assertOneLine(r.output, contains: "no process with PID 4000000")
    }

    func testAnotherUsersProcessIsRefused() throws {
        guard let user = env.user else { throw XCTSkip("needs root to create the unprivileged user") }
        let r = runTool([tool("cr_checkpoint"), "-p", "-f", "/tmp/never-\(getpid())", "\(getpid())"], user: user, cwd: "/tmp")
        XCTAssertEqual(r.code, EPERM)
        assertOneLine(r.output, contains: "not permitted to checkpoint process \(getpid())")
    }

    func testUsageErrorsExit255() {
        XCTAssertEqual(runTool([tool("cr_checkpoint")]).code, 255)
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-f", "x", "-F", "3", "1"]).code, 255)
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "--bogus", "1"]).code, 255)
        XCTAssertEqual(runTool([tool("cr_restart")]).code, 255)
        let relocate = runTool([tool("cr_restart"), "--relocate", "relative=/x", "image"])
        XCTAssertEqual(relocate.code, 255, relocate.output)
        XCTAssertTrue(relocate.output.contains("both paths must be absolute"), relocate.output)
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "--help"]).code, 0)
        let version = runTool([tool("cr_restart"), "-v"])
        XCTAssertEqual(version.code, 0)
        XCTAssertTrue(version.output.contains("swiftcr"), version.output)
    }

    func testUnwritableDestinationLeavesTargetRunning() throws {
        let work = env.workDir("unwritable", user: nil)
        let (target, pid) = try Fixture.start([tool("memory"), work + "/m.data"], user: nil, cwd: work)
        let r = runTool([tool("cr_checkpoint"), "-p", "-f", "/nonexistent-\(getpid())/ctx", "\(pid)"])
        XCTAssertEqual(r.code, ENOENT)
        assertOneLine(r.output, contains: "cannot create")
        kill(pid, SIGTERM)
        XCTAssertTrue(target.read(until: "PASS"), target.output)
    }

    func testCheckpointFailingMidwayLeavesTargetAsItWas() throws {
        let work = env.workDir("midway", user: env.user)
        for fixture in [[tool("memory"), work + "/m.data"], [tool("signals")], [tool("registers")]] {
            let (target, pid) = try Fixture.start(fixture, user: env.user, cwd: work)
            usleep(200_000)
            // A 16 KiB file size limit: the dump fails with EFBIG after the freeze, part way through the image.
            let image = "\(work)/ctx.\(pid)"
            let r = runTool(["/bin/bash", "-c", "ulimit -f 16; exec \(tool("cr_checkpoint")) -p -f \(image) \(pid)"], user: env.user, cwd: work)
            XCTAssertEqual(r.code, EFBIG, "\(fixture[0]): \(r.output)")
            XCTAssertTrue(r.output.contains("File too large"), r.output)
            XCTAssertEqual(runTool(["/bin/ls", "-A", work]).output.contains("ctx"), false, "an image was left behind")
            XCTAssertTrue(target.isRunning(after: 0.3), "\(fixture[0]) died after a failed checkpoint: \(target.output)")
            kill(pid, SIGTERM)
            XCTAssertTrue(target.read(until: "PASS"), "\(fixture[0]) after a failed checkpoint: \(target.output)")
            XCTAssertFalse(target.output.contains("FAIL"), target.output)
        }
    }

    /// A descriptor numbered beyond the restarting shell's hard open-file
    /// limit cannot be placed: one line that names it and the limit (it was
    /// "dup3(...): Bad file descriptor"), every stub gone, and the same
    /// image restarts where the limit allows.
    func testDescriptorBeyondTheRestartsHardLimitIsOneLine() throws {
        let work = env.workDir("highfds", user: nil)
        let (target, pid) = try Fixture.start([tool("highfds"), "7"], user: nil, cwd: work)
        let image = "\(work)/ctx.\(pid)"
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "--kill", "-f", image, "\(pid)"]).code, 0)
        _ = target.wait(timeout: 10)
        let r = runTool(["/bin/bash", "-c", "ulimit -n 64; exec \(tool("cr_restart")) \(image)"], cwd: work)
        XCTAssertEqual(r.code, EMFILE, r.output)
        assertOneLine(r.output, contains: "is beyond this restart's open-file limit (hard 64)")
        XCTAssertNotEqual(kill(pid, 0), 0, "a stub was left at the process's PID")
        // (Its output away from ours: the restored process would hold our pipe open.)
        let again = runTool(["/bin/bash", "-c", "exec \(tool("cr_restart")) --detach \(image) >/dev/null 2>&1"], cwd: work)
        XCTAssertEqual(again.code, 0, again.output)
        XCTAssertEqual(kill(pid, 0), 0, "not running after the second restart")
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while kill(pid, 0) == 0 && Date() < deadline { usleep(10_000) }
    }

    /// A process whose main thread exited while another thread runs on is
    /// refused in one line, as the tree's member and as the target itself
    /// (saved as a zombie, its running threads would be lost, and --kill
    /// would leave them running), and everything goes on as before.
    func testProcessWhoseMainThreadExitedIsRefused() throws {
        let work = env.workDir("leadergone", user: nil)
        let (target, pid) = try Fixture.start([tool("leadergone")], user: nil, cwd: work)
        let line = target.output.split(separator: "\n").first { $0.hasPrefix("LEADERGONE ") }
        guard let child = line.flatMap({ Int32($0.dropFirst("LEADERGONE ".count)) }) else {
            return XCTFail("no child pid: \(target.output)")
        }
        for scope in [["--tree", "--kill", "\(pid)"], ["\(child)"]] {
            let r = runTool([tool("cr_checkpoint"), "-f", work + "/ctx"] + scope)
            XCTAssertEqual(r.code, ENOTSUP, "\(scope): \(r.output)")
            assertOneLine(r.output, contains: "its main thread has exited while its other threads run")
            XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/ctx"), "an image was left behind")
        }
        XCTAssertTrue(target.isRunning(after: 0.3), "--kill must not fire when the checkpoint is refused")
        kill(pid, SIGTERM)
        XCTAssertTrue(target.read(until: "PASS"), target.output)
        XCTAssertFalse(target.output.contains("FAIL"), target.output)
    }

    /// io_uring keeps its rings and requests in the kernel: a process with a
    /// ring is refused in one line (ENOTSUP), as root and as a user, with and
    /// without a submission-polling kernel thread (which never takes a ptrace
    /// stop: the checkpoint used to hang on it). --kill does not fire, no
    /// image is left, and the ring still completes requests afterwards.
    func testIOURingIsRefusedAndLeftWorking() throws {
        for user in [nil, env.user] {
            for mode in ["plain", "sqpoll"] {
                try assertStateRefused("iouring-\(mode)", { _ in [self.tool("iouring"), mode] }, user: user,
                                       says: mode == "sqpoll" ? "is an io_uring kernel thread" : "is an io_uring instance")
            }
        }
    }

    /// Without /proc (zdtm clean_mntns unmounts it) the runtime sees no
    /// arguments: the tools said nothing but the usage and exited 0; now one
    /// line naming /proc and ENOENT.
    func testWithoutProcOneLineNamesIt() throws {
        guard env.isRoot else { throw XCTSkip("unmounts /proc in a mount namespace of its own: needs root") }
        for name in ["swiftcr", "cr_checkpoint", "cr_restart"] {
            let r = runTool(["/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", "umount -l /proc && exec \"$0\" 1", tool(name)])
            XCTAssertEqual(r.code, ENOENT, "\(name): \(r.output)")
            assertOneLine(r.output, contains: "/proc is not mounted here")
        }
    }

    /// memfd_secret pages cannot be read by any other process: a checkpoint
    /// is refused in one line naming the descriptor or, with it closed, the
    /// mapping (it said "open(/proc/PID/fd/N): No such device or address"),
    /// and the target runs on with its bytes.
    func testSecretMemoryIsRefused() throws {
        let probe = Syscall.raw(447)  // memfd_secret
        guard probe >= 0 else { throw XCTSkip("memfd_secret is not available here (errno \(errno))") }
        close(Int32(probe))
        for (mode, text) in [("fd", "fd 3 is a memfd_secret area"), ("map", "is memfd_secret memory")] {
            try assertStateRefused("secretmem-\(mode)", { _ in [self.tool("secretmem"), mode] }, says: text)
        }
    }

    /// A UDP datagram held back in the send queue (UDP_CORK, MSG_MORE) cannot
    /// be read out: the checkpoint is refused in one line, nothing is killed,
    /// and the program's datagram still arrives whole.
    func testHeldBackUDPDatagramIsRefused() throws {
        for variant in ["cork", "more"] {
            try assertStateRefused("udpcorked-" + variant, { _ in [self.tool("udpcorked")] + (variant == "more" ? ["more"] : []) },
                                   says: "holds a datagram not yet sent")
        }
    }

    /// Data waiting in a UNIX connection not yet accepted cannot be read out
    /// without accepting it: the checkpoint is refused, nothing is killed, and
    /// the program then accepts and reads it all (client kept or closed).
    func testDataInUnacceptedUNIXConnectionIsRefused() throws {
        for variant in ["sent", "closed"] {
            try assertStateRefused("unixpending-" + variant, { [self.tool("unixpending"), variant, $0] }, says: "not yet accepted")
        }
    }

    /// Starts a fixture (`argv` given its work directory) whose state cannot
    /// be saved: `cr_checkpoint --kill` must fail with ENOTSUP in one line
    /// saying `says`, leave no image and not kill it; then it must pass.
    private func assertStateRefused(_ label: String, _ argv: (String) -> [String], user: TestUser? = nil, says: String,
                                    code: Int32 = ENOTSUP, options: [String] = [], line: UInt = #line) throws {
        let work = env.workDir(label, user: user)
        let (target, pid) = try Fixture.start(argv(work), user: user, cwd: work)
        let r = runTool([tool("cr_checkpoint")] + options + ["--kill", "-f", work + "/ctx", "\(pid)"], user: user, cwd: work, timeout: 30)
        XCTAssertEqual(r.code, code, "\(label): \(r.output)", line: line)
        assertOneLine(r.output, contains: says)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/ctx"), "\(label): an image was left behind", line: line)
        XCTAssertTrue(target.isRunning(after: 0.3), "\(label): --kill must not fire when the checkpoint is refused", line: line)
        kill(pid, SIGTERM)
        XCTAssertTrue(target.read(until: "PASS"), target.output, line: line)
        XCTAssertFalse(target.output.contains("FAIL"), target.output, line: line)
    }

    /// A 32-bit (i386) program is refused in one line before anything is
    /// injected (ENOTSUP; an injected 64-bit `syscall` went through the i386
    /// table: number 9, mmap, ran as link and failed EFAULT, others would
    /// have done harm), as root and as a user, --kill does not fire, no image
    /// is left, and the program's own checks pass after. Fixtures/signals.c
    /// built with `cc -m32` (gcc-multilib, which scripts/setup.sh installs).
    func testThirtyTwoBitProgramIsRefused() throws {
        let bin = env.workDir("i386-build", user: nil) + "/signals32"
        let cc = runTool(["/usr/bin/cc", "-m32", "-O1", "-pthread", "-o", bin, TestEnvironment.repoRoot + "/Fixtures/signals.c"])
        guard cc.code == 0 else { throw XCTSkip("no 32-bit toolchain here (gcc-multilib): \(cc.output)") }
        chmod(bin, 0o755)
        for user in [nil, env.user] {
            try assertStateRefused("i386", { _ in [bin] }, user: user, says: "runs 32-bit code (code segment 0x23); swiftcr saves 64-bit code only")
        }
    }

    /// A tmpfs that only a mount namespace of the tree's has is saved with
    /// its files, up to 64 MiB: one holding more is refused in one line,
    /// the tree untouched and no image left.
    func testOversizedNamespaceTmpfsIsRefused() throws {
        for user in [nil, env.user] {
            try assertStateRefused("mountns-big", { [self.tool("mountns"), "7", $0, "big"] }, user: user,
                                   says: "more than 64 MiB of files", code: EFBIG, options: ["--tree"])
        }
    }

    /// A file, FIFO or device node whose directory a mount was made over
    /// after it was opened: its path leads elsewhere, so the checkpoint is
    /// refused in one line (not an image the restart would fail on), the
    /// process untouched (Fixtures/overmount.c; zdtm overmount_file, _fifo, _dev).
    /// As a user the mount is made in a mount namespace of the process's
    /// own, after the file was opened: the file is on a mount of the
    /// checkpointer's namespace, where the restart opens it, and the
    /// namespace comes back with the mount over the directory.
    func testFileHiddenUnderAMountIsRefused() throws {
        if env.isRoot {
            for kind in ["file", "fifo", "dev"] {
                try assertStateRefused("overmount-\(kind)", { [self.tool("overmount"), $0, kind] },
                                       says: "a mount was made over its directory since it was opened", code: EBUSY)
            }
        }
        for kind in ["file", "fifo"] {
            try Scenario(fixture: "overmount", arguments: ["@", kind]).run(.unprivilegedNamespace)
        }
    }

    /// A user cannot enter the IPC namespace of its own process to read its
    /// SysV objects: with a segment attached there, the checkpoint is refused.
    func testUsersIPCNamespaceWithSegmentsIsRefused() throws {
        guard let user = env.user else { throw XCTSkip("no unprivileged test user") }
        try assertStateRefused("ipcns", { _ in [self.tool("ipcns"), "5"] }, user: user,
                               says: "attaches SysV shared memory of an IPC namespace", code: EPERM, options: ["--tree"])
    }

    func testFullFileSystemLeavesNoImage() throws {
        guard env.isRoot else { throw XCTSkip("mounting a small tmpfs needs root") }
        let work = env.workDir("full", user: nil)
        let small = work + "/small"
        mkdir(small, 0o755)
        guard runTool(["/bin/mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", small]).code == 0 else {
            throw XCTSkip("cannot mount tmpfs here")
        }
        defer { runTool(["/bin/umount", small]) }
        let (target, pid) = try Fixture.start([tool("memory"), work + "/m.data"], user: nil, cwd: work)
        usleep(200_000)
        let r = runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", small + "/ctx", "\(pid)"])
        XCTAssertEqual(r.code, ENOSPC, r.output)
        assertOneLine(r.output, contains: "No space left on device")
        XCTAssertEqual(runTool(["/bin/ls", "-A", small]).output, "", "something was left in the destination directory")
        XCTAssertTrue(target.isRunning(after: 0.3), "--kill must not fire when the checkpoint failed")
        kill(pid, SIGTERM)
        XCTAssertTrue(target.read(until: "PASS"), target.output)
    }

    /// A real image, then broken copies of it: each is refused before anything runs.
    func testDamagedImagesAreRefused() throws {
        let work = env.workDir("damaged", user: nil)
        let (image, pid) = try Fixture.image(of: [tool("memory"), work + "/m.data"], in: work, bin: env.bin)
        let good = try readFile(image)
        var flipped = good
        flipped[good.count / 2] ^= 1
        var newer = good
        newer[8] = 9
        let cases: [(String, [UInt8], String)] = [
            ("truncated", Array(good[0..<(good.count / 3)]), "truncated"),
            ("flipped", flipped, "checksum mismatch"),
            ("newer", newer, "image format 9.\(ImageFormat.minor) is newer than this swiftcr reads (\(ImageFormat.versionString))"),
            ("foreign", Array("hello world, not an image\n".utf8), "not a swiftcr image"),
            ("empty", [], "not a swiftcr image (magic empty file)"),
        ]
        for (name, bytes, message) in cases {
            let path = "\(work)/\(name)"
            try writeFile(path, bytes)
            let r = runTool([tool("cr_restart"), path])
            XCTAssertEqual(r.code, EINVAL, "\(name): \(r.output)")
            assertOneLine(r.output, contains: message)
            XCTAssertEqual(kill(pid, 0), -1, "\(name): a half-restored process was left running")
        }
        let missing = runTool([tool("cr_restart"), work + "/no-such-image"])
        XCTAssertEqual(missing.code, ENOENT)
        assertOneLine(missing.output, contains: "cannot open")
        // Something that cannot be read at all exits with the system's code, not EINVAL.
        let directory = runTool([tool("cr_restart"), work])
        XCTAssertEqual(directory.code, EISDIR, directory.output)
        assertOneLine(directory.output, contains: "Is a directory")
        let badFD = runTool([tool("cr_restart"), "-F", "77"])
        XCTAssertEqual(badFD.code, EBADF, badFD.output)
        assertOneLine(badFD.output, contains: "Bad file descriptor")
    }

    /// A signal sent while the process is being rebuilt stays pending and is
    /// delivered to its own handler afterwards: here it is the SIGTERM the
    /// fixture waits for, so PASS appears without any other signal.
    func testSignalDuringRestoreIsDeliveredAfterwards() throws {
        guard env.isRoot else { throw XCTSkip("needs the original PID (root)") }
        let work = env.workDir("signal-during-restore", user: nil)
        let (image, pid) = try Fixture.image(of: [tool("memory"), work + "/m.data"], in: work, bin: env.bin)
        setenv("SWIFTCR_TEST_RESTORE_PAUSE_MS", "1500", 1)
        let restart = try Child([tool("cr_restart"), image], cwd: work)
        unsetenv("SWIFTCR_TEST_RESTORE_PAUSE_MS")
        XCTAssertTrue(restart.read(until: "restore paused"), restart.output)
        XCTAssertEqual(kill(pid, SIGTERM), 0, "the PID must exist during restore")
        let out = restart.readToEnd(timeout: 30)
        XCTAssertTrue(out.contains("PASS"), out)
        XCTAssertEqual(restart.wait(timeout: 5)?.code, 0)
    }

    func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TestFailure("open \(path)") }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TestFailure("create \(path)") }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}
