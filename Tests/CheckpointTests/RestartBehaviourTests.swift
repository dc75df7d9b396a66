import CheckpointImage
import Glibc
import LinuxKit
import XCTest
@testable import Checkpoint

/// cr_restart as the restarted process's parent: its exit status, its
/// signals, and what it refuses before building anything.
final class RestartBehaviourTests: XCTestCase {
    var env: TestEnvironment!

    override func setUpWithError() throws { env = try TestEnvironment.get() }

    func tool(_ name: String) -> String { "\(env.bin)/\(name)" }

    func image(of argv: [String], in work: String) throws -> (String, pid_t) {
        try Fixture.image(of: argv, in: work, bin: env.bin)
    }

    func testExitCodeOfTheRestartedProcessBecomesOurs() throws {
        let work = env.workDir("exit-code", user: nil)
        let (path, _) = try image(of: [tool("syscalls"), "read"], in: work)
        let restart = try Child([tool("cr_restart"), "--no-restore-pid", path], cwd: work)
        restart.write("nope!\n")  // the fixture expects "hello": it prints FAIL and exits 1
        let out = restart.readToEnd(timeout: 20)
        XCTAssertTrue(out.contains("FAIL"), out)
        XCTAssertEqual(restart.wait(timeout: 5)?.code, 1)
    }

    func testSignalThatKillsTheProcessIsReRaised() throws {
        let work = env.workDir("reraise", user: nil)
        let (path, _) = try image(of: [tool("memory"), work + "/m.data"], in: work)
        let restart = try Child([tool("cr_restart"), "--no-restore-pid", "--verbose", path], cwd: work)
        XCTAssertTrue(restart.read(until: "restored"), restart.output)
        kill(restart.pid, SIGUSR2)  // forwarded; default action: terminate
        let status = restart.wait(timeout: 10)
        XCTAssertEqual(status?.signal, SIGUSR2, "cr_restart should die of the process's signal: \(String(describing: status)) \(restart.output)")
    }

    /// --term and -S: the signal is taken before the process runs past the
    /// image point, so a restart goes on from there and nothing it wrote is
    /// written twice (BLCR sends it before the process resumes).
    func testSignalAfterCheckpointEndsTheProcessAtTheImagePoint() throws {
        for option in [["--term"], ["-S", "\(SIGUSR1)"]] {
            let work = env.workDir("signal-after-\(option.last ?? "")", user: nil)
            let counts = work + "/counts"
            let (target, pid) = try Fixture.start([tool("counter"), counts], user: nil, cwd: work)
            usleep(200_000)
            // The checkpointer lingers after letting go, as on a busy machine: a signal sent only then comes too late.
            let r = runTool(["/usr/bin/env", "SWIFTCR_TEST_CHECKPOINT_PAUSE=released:300", tool("cr_checkpoint")] + option + ["-f", work + "/ctx", "\(pid)"], cwd: work)
            XCTAssertEqual(r.code, 0, r.output)
            _ = target.wait(timeout: 10)
            reapOrphans()
            let restart = try Child([tool("cr_restart"), "--no-restore-pid", "--verbose", work + "/ctx"], cwd: work)
            XCTAssertTrue(restart.read(until: " as pid "), restart.output)
            usleep(300_000)
            // The restored counter: "restored counter as pid N (was M)".
            let words = restart.output.split(separator: "\n").first { $0.contains(" as pid ") }?.split(separator: " ") ?? []
            if let k = words.firstIndex(of: "pid"), k + 1 < words.count, let restored = pid_t(words[k + 1]) { kill(restored, SIGKILL) }
            kill(restart.pid, SIGKILL)
            _ = restart.wait(timeout: 5)
            reapOrphans()
            let numbers = (try? String(contentsOfFile: counts, encoding: .utf8))?.split(separator: "\n").compactMap { Int($0) } ?? []
            XCTAssertGreaterThan(numbers.count, 10, "\(option): the counter did not run")
            let broken = zip(numbers, numbers.dropFirst()).first { $1 != $0 + 1 }
            XCTAssertNil(broken, "\(option): the counts go \(broken.map { "\($0.0) then \($0.1)" } ?? "") after the restart")
        }
    }

    /// --tree over a process that forks short-lived children: those gone
    /// between finding the tree and stopping it are left out, not a failure
    /// (the checkpointer is held there for 200 ms, so every child found is gone).
    func testTreeCheckpointSurvivesDescendantsThatExit() throws {
        let work = env.workDir("short-lived", user: nil)
        let (target, pid) = try Fixture.start([tool("forker")], user: nil, cwd: work)
        for k in 0..<5 {
            let r = runTool(["/usr/bin/env", "SWIFTCR_TEST_CHECKPOINT_PAUSE=scoped:200", tool("cr_checkpoint"), "--tree", "-f", "\(work)/ctx\(k)", "\(pid)"], cwd: work)
            XCTAssertEqual(r.code, 0, "checkpoint \(k): \(r.output)")
        }
        kill(pid, SIGTERM)
        let out = target.readToEnd(timeout: 10)
        XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), out)
    }

    /// cr_restart --detach exits once the process runs, and the process stays:
    /// as a user in a PID namespace of ours (whose PID 1 must outlive
    /// cr_restart without ending the namespace), and as root. Told to stop,
    /// it checks itself and ends; nothing of ours is left.
    func testDetachedRestartOutlivesCrRestart() throws {
        for user in [env.user, nil] {
            guard let (restart, restored) = try detachedRestart(of: "busyloop", scope: "-p", user: user) else { continue }
            usleep(1_500_000)  // past the namespace PID 1's first look at cr_restart
            XCTAssertEqual(kill(restored, 0), 0, "the restored process did not outlive cr_restart: \(restart.output)")
            kill(restored, SIGTERM)
            let out = restart.readToEnd(timeout: 20)
            XCTAssertTrue(out.contains("PASS"), out)
            reapOrphans()
            usleep(1_500_000)
            XCTAssertEqual(Self.ourReapers(), [], "the namespace's PID 1 stayed after the process ended")
        }
    }

    /// A user's detached tree whose processes end apart (the child killed,
    /// the parent seconds later): the namespace's PID 1 ends once the last is
    /// gone. It counted a process that ended in an earlier round of its watch
    /// as running again, and stayed for good (one was left per real program
    /// with children that scripts/programs-check.sh --user restarted).
    func testDetachedTreeEndsItsNamespaceWhenItsProcessesEndApart() throws {
        guard let user = env.user else { throw XCTSkip("needs the unprivileged test user") }
        guard let (_, restored) = try detachedRestart(of: "shmem", scope: "--tree", user: user) else { return }
        let ours = Self.ourReapers()
        XCTAssertEqual(ours.count, 1, "the namespace's PID 1: \(ours)")
        // It holds nothing of cr_restart's (stdout, the image): a caller
        // reading cr_restart's output to its end waited for it for good.
        for p in ours {
            let held = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(p)/fd")) ?? [])
                .map { fd in (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p)/fd/\(fd)")) ?? "?" }
            XCTAssertEqual(held.filter { $0 != "anon_inode:[pidfd]" }, [], "the namespace's PID 1 holds more than its pidfds")
        }
        let children = childProcesses(of: restored)
        XCTAssertFalse(children.isEmpty, "the restored parent has no child")
        for c in children { kill(c, SIGKILL) }
        usleep(2_500_000)  // past two rounds of the reaper's watch
        XCTAssertEqual(kill(restored, 0), 0, "the parent ended with its child")
        kill(restored, SIGKILL)
        var left = ours
        for _ in 0..<60 where !left.isEmpty {
            reapOrphans()
            left = Self.ourReapers()
            usleep(100_000)
        }
        XCTAssertEqual(left, [], "the namespace's PID 1 stayed after its processes ended")
    }

    /// The fixture checkpointed (--kill) and restarted with --detach: the
    /// cr_restart that has exited and the restored process's PID (nil, failed, if none).
    func detachedRestart(of fixture: String, scope: String, user: TestUser?, line: UInt = #line) throws -> (Child, pid_t)? {
        let work = env.workDir("detach-\(fixture)", user: user)
        let (target, pid) = try Fixture.start([tool(fixture)], user: user, cwd: work)
        let r = runTool([tool("cr_checkpoint"), scope, "--kill", "-f", "\(work)/ctx", "\(pid)"], user: user, cwd: work)
        XCTAssertEqual(r.code, 0, r.output, line: line)
        _ = target.wait(timeout: 10)
        reapOrphans()
        let restart = try Child([tool("cr_restart"), "--detach", "\(work)/ctx"], user: user, cwd: work)
        XCTAssertTrue(restart.read(until: "runs on as pid"), restart.output, line: line)
        XCTAssertEqual(restart.wait(timeout: 10)?.code, 0, restart.output, line: line)
        guard let said = restart.output.split(separator: "\n").first(where: { $0.contains("runs on as pid") }),
              let restored = pid_t(said.split(separator: " ").last ?? "") else { XCTFail("no pid in \(restart.output)", line: line); return nil }
        return (restart, restored)
    }

    /// Namespace reapers of this test's detached restarts: cr_restart is gone,
    /// so they are this process's (a subreaper) children. Another run's on the
    /// same machine are not.
    static func ourReapers() -> [pid_t] {
        childProcesses(of: getpid()).filter { p in
            (try? String(contentsOfFile: "/proc/\(p)/comm", encoding: .utf8))?.hasPrefix("swiftcr-init") == true
        }.sorted()
    }

    /// A restart on a terminal shows a progress bar while the pages stream in
    /// (shown from the start here by a test hook; normally after 0.3 s).
    func testRestartShowsProgressOnATerminal() throws {
        let work = env.workDir("restart-progress", user: nil)
        let (target, pid) = try Fixture.start([tool("busyloop")], user: nil, cwd: work)
        let r = runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", "\(work)/ctx", "\(pid)"], cwd: work)
        XCTAssertEqual(r.code, 0, r.output)
        _ = target.wait(timeout: 10)
        let restart = try Child(["/usr/bin/script", "-qfec", "env SWIFTCR_TEST_PROGRESS_AFTER=0 \(tool("cr_restart")) --no-restore-pid --term \(work)/ctx", "/dev/null"], cwd: work)
        let out = restart.readToEnd(timeout: 20)
        XCTAssertTrue(out.contains("restart [#") && out.contains("MiB/s"), out)
        XCTAssertTrue(out.contains("PASS"), out)
    }

    /// A restart that waits for its PID, still held by a killed process its
    /// parent has not reaped, says what it waits for, and goes on once it is.
    func testWaitForAnUnreapedPIDIsSaid() throws {
        guard env.isRoot else { throw XCTSkip("restores the original PID") }
        let work = env.workDir("unreaped-pid", user: nil)
        let (target, pid) = try Fixture.start([tool("busyloop")], user: nil, cwd: work)
        let r = runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", "\(work)/ctx", "\(pid)"], cwd: work)
        XCTAssertEqual(r.code, 0, r.output)
        // The killed fixture is our child and stays a zombie until we reap it.
        let restart = try Child([tool("cr_restart"), "\(work)/ctx"], cwd: work)
        XCTAssertTrue(restart.read(until: "waiting up to 5 s for PID \(pid)", timeout: 4), restart.output)
        // Its PID is also its thread's ID: named once.
        XCTAssertTrue(restart.read(until: "PID \(pid), still held by an exited process its parent has not reaped", timeout: 2), restart.output)
        _ = target.wait(timeout: 10)
        XCTAssertTrue(processRunsUntraced(pid), restart.output)
        kill(restart.pid, SIGTERM)
        let out = restart.readToEnd(timeout: 20)
        XCTAssertTrue(out.contains("PASS"), out)
    }

    /// A process in the middle of exiting (a killed one with much memory
    /// gives it back first) holds its PID before it is a zombie: the restart
    /// waits for it as for an unreaped one, and goes on once it is free.
    /// Held here at its exit event (PTRACE_O_TRACEEXIT), where it is in
    /// do_exit and not yet a zombie (zdtm --iters maps01 found it).
    func testAPIDHeldByAnExitingProcessIsWaitedFor() throws {
        guard env.isRoot else { throw XCTSkip("restores the original PID") }
        let work = env.workDir("exiting-pid", user: nil)
        let child = try Child(["/bin/sh", "-c", "read line; echo got $line; exit 0"], cwd: work)
        defer { kill(child.pid, SIGKILL); _ = child.wait(timeout: 5) }
        usleep(100_000)
        XCTAssertFalse(ExitingHolders.isExiting(child.pid), "a running process is not exiting")
        let r = runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/ctx", "\(child.pid)"], cwd: work)
        XCTAssertEqual(r.code, 0, r.output)
        try Ptrace.seize(child.pid, options: 0x40)  // PTRACE_O_TRACEEXIT
        _ = "go\n".withCString { write(child.stdin, $0, 3) }
        guard case .stopped(_, SIGTRAP, 6) = try Ptrace.wait(child.pid) else {  // PTRACE_EVENT_EXIT
            return XCTFail("no exit event stop")
        }
        XCTAssertTrue(ExitingHolders.isExiting(child.pid), "a process stopped in its exit is exiting")
        let restart = try Child([tool("cr_restart"), "\(work)/ctx"], cwd: work)
        defer { kill(restart.pid, SIGKILL); _ = restart.wait(timeout: 5) }
        XCTAssertTrue(restart.read(until: "waiting up to 5 s for PID \(child.pid)", timeout: 4), restart.output)
        try Ptrace.detach(child.pid)
        XCTAssertEqual(child.wait(timeout: 5)?.code, 0)
        // (Written to only if it restored: a pipe to an exited cr_restart would kill this test process.)
        guard processRunsUntraced(child.pid) else { return XCTFail("not restored: \(restart.output)") }
        _ = "again\n".withCString { write(restart.stdin, $0, 6) }
        let out = restart.readToEnd(timeout: 20)
        XCTAssertTrue(out.contains("got again"), out)
        XCTAssertEqual(restart.wait(timeout: 10)?.code, 0, out)
    }

    /// A member of the tree's process group outside the tree keeps the
    /// leader's PID taken: the checkpoint says so (naming it), and still saves.
    func testCheckpointNamesAGroupMemberOutsideTheTree() throws {
        let work = env.workDir("groupoutsider", user: nil)
        let (target, pid) = try Fixture.start([tool("groupoutsider")], user: nil, cwd: work)
        let line = target.output.split(separator: "\n").first { $0.hasPrefix("OUTSIDER ") }
        guard let outsider = line.flatMap({ Int32($0.dropFirst("OUTSIDER ".count)) }) else { return XCTFail("no outsider: \(target.output)") }
        let r = runTool([tool("cr_checkpoint"), "--tree", "-f", "\(work)/ctx", "\(pid)"], cwd: work)
        XCTAssertEqual(r.code, 0, r.output)
        XCTAssertTrue(r.output.contains("process \(outsider), outside the checkpoint, is in the process group or session of \(pid)"), r.output)
        kill(pid, SIGTERM)
        XCTAssertTrue(target.read(until: "PASS"), target.output)
        XCTAssertFalse(target.output.contains("FAIL"), target.output)
    }

    /// A process in user, UTS, IPC and mount namespaces of its own (the
    /// others its user namespace's): all saved, no warning. One whose cgroup
    /// namespace belongs to its user namespace: the checkpoint names the
    /// user namespace it does not make again, and why.
    func testCheckpointNamesNamespacesItDoesNotSave() throws {
        for (flags, said) in [(["--uts", "--ipc", "--mount"], nil), (["--cgroup"], "that the restart does not make again (its cgroup namespace belongs to it)")] as [([String], String?)] {
            let work = env.workDir("unsaved-namespaces", user: nil)
            let (target, pid) = try Fixture.start(["/usr/bin/unshare", "--user", "--map-root-user"] + flags + [tool("busyloop")], user: nil, cwd: work)
            let r = runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/ctx", "\(pid)"], cwd: work)
            XCTAssertEqual(r.code, 0, r.output)
            if let said {
                XCTAssertTrue(r.output.contains("process \(pid) is in a user namespace other than the checkpointer's \(said)"), r.output)
            } else {
                XCTAssertFalse(r.output.contains("namespace"), r.output)
            }
            XCTAssertFalse(r.output.contains("UTS namespace") || r.output.contains("IPC namespace"), r.output)
            XCTAssertFalse(r.output.contains("network namespace"), r.output)
            kill(pid, SIGTERM)
            _ = target.readToEnd(timeout: 10)
        }
    }

    /// A tree whose root is outside the PID namespace its descendants are in
    /// (unshare --pid --fork): refused, naming that namespace's init, since a
    /// restart would make them in the root's namespace with other PIDs than
    /// they know (they came back so before, silently). No image is left, and
    /// the tree runs on to its PASS.
    func testPIDNamespaceBelowTheRootIsRefusedAsRootAndUser() throws {
        for user in [nil, env.user] {
            let work = env.workDir("pidns-below-root", user: user)
            let (target, initPID) = try Fixture.start([tool("pidns"), "\(TestEnvironment.seed(for: "pidns-below"))"], user: user, cwd: work)
            let r = runTool([tool("cr_checkpoint"), "--tree", "-f", "\(work)/ctx", "\(target.pid)"], user: user, cwd: work)
            XCTAssertNotEqual(r.code, 0, r.output)
            XCTAssertTrue(r.output.contains("is in a PID namespace below the one of \(target.pid)"), r.output)
            XCTAssertTrue(r.output.contains("init, process \(initPID), with --tree"), r.output)
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(work)/ctx"))
            kill(initPID, SIGTERM)
            let out = target.readToEnd(timeout: 30)
            XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), out)
        }
    }

    /// Without --restore-sid (BLCR's default) a session leader with its
    /// terminal in the image (a tmux pane's shell) joins cr_restart's session
    /// and loses the terminal: the restart says so, naming the process.
    func testTerminalSessionLeaderWithoutRestoreSidIsNamed() throws {
        guard env.isRoot else { throw XCTSkip("needs root") }
        let work = env.workDir("pty-no-sid", user: nil)
        let (target, pid) = try Fixture.start([tool("ptys")], user: nil, cwd: work)
        usleep(200_000)
        let tree = descendants(of: pid)
        XCTAssertEqual(tree.count, 1, "the fixture's session leader child")
        let r = runTool([tool("cr_checkpoint"), "--tree", "--kill", "-f", "\(work)/ctx", "\(pid)"], cwd: work)
        XCTAssertEqual(r.code, 0, r.output)
        _ = target.wait(timeout: 10)
        reapOrphans()
        waitGone(tree)
        defer { for p in tree + [pid] { kill(p, SIGKILL) } }
        // (Child, not runTool: the restored tree holds the output pipe on.)
        func detached(_ options: [String]) throws -> String {
            let restart = try Child([tool("cr_restart"), "--detach"] + options + ["\(work)/ctx"], cwd: work)
            XCTAssertTrue(restart.read(until: "runs on as pid"), restart.output)
            XCTAssertEqual(restart.wait(timeout: 10)?.code, 0, restart.output)
            return restart.output
        }
        let output = try detached([])
        let leader = tree.first.map(String.init) ?? "?"
        XCTAssertTrue(output.contains("process \(leader) led a session with /dev/pts/"), output)
        XCTAssertTrue(output.contains("without --restore-sid"), output)
        for p in [pid] + tree { kill(p, SIGKILL) }
        reapOrphans()
        waitGone([pid] + tree)
        let again = try detached(["--restore-sid", "--restore-pgid"])
        XCTAssertFalse(again.contains("led a session"), again)
    }

    /// A checkpoint that lets the tree run on leaves the pages a parent and its
    /// children share copy-on-write shared (reading them must not unshare them):
    /// the fixture counts its shared pages again once told to stop.
    func testCheckpointLeavesCopyOnWriteSharingAsRootAndUser() throws {
        for user in [nil, env.user] {
            let work = env.workDir("cow-runs-on", user: user)
            let (target, pid) = try Fixture.start([tool("cowshare"), "\(TestEnvironment.seed(for: "cowshare-runs-on"))"], user: user, cwd: work)
            let r = runTool([tool("cr_checkpoint"), "--tree", "-f", "\(work)/ctx", "\(pid)"], user: user, cwd: work)
            XCTAssertEqual(r.code, 0, r.output)
            signalDescendants(of: pid, SIGTERM)
            kill(pid, SIGTERM)
            let out = target.readToEnd(timeout: 20)
            XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), out)
        }
    }

    /// A MAP_SHARED file mapping whose file changed (contents and size) since
    /// the checkpoint is mapped as the file is now, as BLCR does, not refused.
    func testChangedSharedFileIsMappedAsItIsNow() throws {
        let work = env.workDir("changed-shared", user: nil)
        let file = work + "/shared.dat"
        let (target, pid) = try Fixture.start([tool("sharedfile"), file], user: nil, cwd: work)
        let r = runTool([tool("cr_checkpoint"), "--kill", "-f", work + "/ctx", "\(pid)"], cwd: work)
        XCTAssertEqual(r.code, 0, r.output)
        _ = target.wait(timeout: 10)
        reapOrphans()
        let fd = open(file, O_WRONLY)
        _ = "after!\0".withCString { pwrite(fd, $0, 7, 0) }
        ftruncate(fd, 12288)
        close(fd)
        let restart = try Child([tool("cr_restart"), "--no-restore-pid", "--term", work + "/ctx"], cwd: work)
        let out = restart.readToEnd(timeout: 20)
        XCTAssertTrue(out.contains("sees 'after!'") && out.contains("PASS"), out)
    }

    /// A pipe leading outside the image at fd 8 stays cr_restart's own fd 8
    /// when cr_restart has one (BLCR's rule, cr_rstrt_req.c: an fd the
    /// restarting process already holds is not restored); fd 7, which it
    /// lacks, is its stdin.
    func testOutsidePipeKeepsTheRestartersDescriptorOfThatNumber() throws {
        let work = env.workDir("outside-fd", user: nil)
        let (path, _) = try image(of: [tool("outsidepipe")], in: work)
        reapOrphans()
        let file = work + "/fd8.out"
        let restart = try Child(["/bin/sh", "-c", "exec \"$0\" --no-restore-pid \"$1\" 8>\"$2\"", tool("cr_restart"), path, file], cwd: work)
        restart.write("hello\n")
        usleep(300_000)
        kill(restart.pid, SIGTERM)
        let out = restart.readToEnd(timeout: 20)
        let written = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        XCTAssertTrue(written.contains("through fd 8"), "fd 8 should be cr_restart's own: file has '\(written)', stdout '\(out)'")
        XCTAssertFalse(out.contains("through fd 8"), out)
        XCTAssertTrue(out.contains("PASS"), out)
    }

    /// --no-restore-pid with --restore-sid, --restore-pgid or both, the
    /// session gone: the original IDs all the same (BLCR's pid_restore), as root.
    func testOriginalSessionAndGroupWithNewPIDsAsRoot() throws {
        for mode in ["sid", "pgid", "both"] {
            var s = Scenario(fixture: "sessionids", arguments: [mode])
            s.newRootPID = true
            s.restartArguments = ["--no-restore-pid"] + (mode == "pgid" ? [] : ["--restore-sid"]) + (mode == "sid" ? [] : ["--restore-pgid"])
            try s.run(.rootOriginalPID)
        }
    }

    /// --no-restore-pid --restore-pgid (or --restore-sid) while the group
    /// (session) still exists: EBUSY (issue 14 D6; BLCR's cr_restart man
    /// page: it must be free; BLCR's pid_in_use test, both options).
    func testRestorePGIDWithNewPIDsIsEBUSYWhileTheGroupExists() throws {
        let work = env.workDir("pgid-busy", user: nil)
        let (target, pid) = try Fixture.start([tool("busyloop")], user: nil, cwd: work)
        let r = runTool([tool("cr_checkpoint"), "-p", "-f", work + "/ctx", "\(pid)"], cwd: work)
        XCTAssertEqual(r.code, 0, r.output)
        for option in ["--restore-pgid", "--restore-sid"] {
            let restart = runTool([tool("cr_restart"), "--no-restore-pid", option, work + "/ctx"], cwd: work, timeout: 20)
            XCTAssertEqual(restart.code, EBUSY, "\(option): \(restart.output)")
        }
        kill(pid, SIGKILL)
        _ = target.wait(timeout: 5)
        // Session and group 1 (init's, as under a CI container's init) and 0
        // (one outside the PID namespace) exist too: EBUSY, not a restart
        // into a session the process did not have.
        for leader in ["setsid", "exec"] {
            let script = """
                "$1" & pid=$!
                "$2" -p -f "$4/ns-ctx" $pid || exit 99
                for option in --restore-pgid --restore-sid; do
                    timeout 15 "$3" --no-restore-pid $option "$4/ns-ctx"; echo "$option exit $?"
                done
                kill -9 $pid
                """
            let r = runTool(["/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c", "\(leader) /bin/sh -c '\(script)' sh \"$@\"", "sh",
                             tool("busyloop"), tool("cr_checkpoint"), tool("cr_restart"), work], cwd: work, timeout: 60)
            XCTAssertTrue(r.output.contains("--restore-pgid exit \(EBUSY)") && r.output.contains("--restore-sid exit \(EBUSY)"), "\(leader): \(r.output)")
        }
    }

    /// system("cr_checkpoint ... $PID"): the restarted copy's system() gives
    /// the tool's status 0, not -1/ECHILD (issue 14 D1, as under BLCR).
    func testSelfCheckpointThroughSystemReturnsZeroAfterRestart() throws {
        let work = env.workDir("self-system", user: nil)
        let image = work + "/ctx"
        let original = runTool([tool("selfcheckpoint"), tool("cr_checkpoint"), image], cwd: work)
        XCTAssertTrue(original.output.contains("system returned 0") && original.output.contains("PASS"), original.output)
        reapOrphans()
        let restart = runTool([tool("cr_restart"), image], cwd: work, timeout: 30)
        XCTAssertTrue(restart.output.contains("system returned 0") && restart.output.contains("PASS"), restart.output)
    }

    /// A process stopped by SIGSTOP when checkpointed is stopped after restart.
    func testStoppedProcessStaysStopped() throws {
        let work = env.workDir("stopped", user: nil)
        let (target, pid) = try Fixture.start([tool("memory"), work + "/m.data"], user: nil, cwd: work)
        usleep(100_000)
        kill(pid, SIGSTOP)
        usleep(100_000)
        let path = "\(work)/context"
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", path, "\(pid)"]).code, 0)
        _ = target.wait(timeout: 5)
        let restart = try Child([tool("cr_restart"), "--no-restore-pid", "--verbose", path], cwd: work)
        XCTAssertTrue(restart.read(until: "restored"), restart.output)
        guard let restored = restart.output.split(separator: " ").firstIndex(of: "pid").map({ restart.output.split(separator: " ")[$0 + 1] }),
              let newPID = pid_t(restored) else { return XCTFail("no pid in \(restart.output)") }
        usleep(200_000)
        let state = runTool(["/usr/bin/awk", "{print $3}", "/proc/\(newPID)/stat"]).output
        XCTAssertEqual(state, "T\n", "restarted process should be stopped")
        kill(newPID, SIGCONT)
        kill(newPID, SIGTERM)
        XCTAssertTrue(restart.readToEnd(timeout: 20).contains("PASS"), restart.output)
    }

    /// Restoring the original PID while it is in use fails with EBUSY (16), as
    /// BLCR; for a user too, whose restart would find every ID free in a PID
    /// namespace of its own (BLCR's pid_in_use and run_on, as a user).
    func testPIDInUseIsEBUSYAsRootAndUser() throws {
        guard env.isRoot else { throw XCTSkip("exact PIDs need root") }
        for user in [nil, env.user] {
            let who = user?.name ?? "root"
            let work = env.workDir("pid-in-use", user: user)
            let (target, pid) = try Fixture.start([tool("memory"), work + "/m.data"], user: user, cwd: work)
            defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
            let path = "\(work)/context"
            XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "-f", path, "\(pid)"], user: user, cwd: work).code, 0, who)
            let r = runTool([tool("cr_restart"), path], user: user, cwd: work, timeout: 30)
            XCTAssertEqual(r.code, EBUSY, "\(who): \(r.output)")
            XCTAssertTrue(r.output.contains("PID \(pid) is already in use"), "\(who): \(r.output)")
        }
    }

    /// An original PID that another program took since is no obstacle to a
    /// user's restart, which gives the process that PID in a namespace of its
    /// own: only the original still running is refused (above).
    func testOriginalPIDTakenByAnotherProgramDoesNotStopAUsersRestart() throws {
        guard env.isRoot, let user = env.user else { throw XCTSkip("needs root to place a process at a PID, and the test user") }
        let work = env.workDir("pid-reused", user: user)
        let (target, pid) = try Fixture.start([tool("memory"), work + "/m.data"], user: user, cwd: work)
        let path = "\(work)/context"
        let made = runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", path, "\(pid)"], user: user, cwd: work)
        XCTAssertEqual(made.code, 0, made.output)
        _ = target.wait(timeout: 5)
        reapOrphans()
        // Another program at that PID: the next PID the kernel hands out (ns_last_pid), retried if a fork came first.
        var holder: Child?
        for _ in 0..<50 where holder == nil {
            let last = open("/proc/sys/kernel/ns_last_pid", O_WRONLY)
            guard last >= 0 else { break }
            _ = "\(pid - 1)".withCString { Glibc.write(last, $0, strlen($0)) }
            close(last)
            let c = try Child(["/bin/sleep", "60"])
            if c.pid == pid { holder = c } else { kill(c.pid, SIGKILL); _ = c.wait(timeout: 5) }
        }
        guard let holder else { throw XCTSkip("no process could be placed at PID \(pid)") }
        defer { kill(holder.pid, SIGKILL); _ = holder.wait(timeout: 5) }
        let restart = try Child([tool("cr_restart"), "--verbose", path], user: user, cwd: work)
        XCTAssertTrue(restart.read(until: "restored"), restart.output)
        XCTAssertTrue(restart.output.contains("(was \(pid))") && restart.output.contains("new user and PID namespace"), restart.output)
        let outer = restart.output.components(separatedBy: "as pid ").dropFirst().first.flatMap { pid_t($0.prefix { $0.isNumber }) }
        if let outer { kill(outer, SIGTERM) }
        let out = restart.readToEnd(timeout: 20)
        XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), out)
        XCTAssertEqual(restart.wait(timeout: 5)?.code, 0, out)
    }

    /// Right after `--kill` the original may still be a zombie nobody has
    /// reaped: the restart waits a few seconds for its PID to be freed
    /// instead of failing at once, and says so if it never is.
    func testRestartWaitsForTheKilledOriginalToBeReaped() throws {
        guard env.isRoot else { throw XCTSkip("exact PIDs need root") }
        let work = env.workDir("zombie-wait", user: nil)
        let (target, pid) = try Fixture.start([tool("memory"), work + "/m.data"], user: nil, cwd: work)
        let path = "\(work)/context"
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", path, "\(pid)"]).code, 0)
        usleep(100_000)
        XCTAssertEqual((try? ProcStat.read(pid: pid))?.state, "Z", "the killed original should still be our zombie")
        // Never reaped during the restart: it gives up after a few seconds and says why.
        let refused = runTool([tool("cr_restart"), path])
        XCTAssertEqual(refused.code, EBUSY, refused.output)
        XCTAssertTrue(refused.output.contains("PID \(pid) is held by a zombie its parent \(getpid()) has not reaped"), refused.output)
        let restart = try Child([tool("cr_restart"), "--verbose", path], cwd: work)
        usleep(500_000)
        _ = target.wait(timeout: 5)  // reaped only now
        XCTAssertTrue(restart.read(until: "restored"), restart.output)
        kill(pid, SIGTERM)
        XCTAssertTrue(restart.readToEnd(timeout: 20).contains("PASS"), restart.output)
        XCTAssertEqual(restart.wait(timeout: 5)?.code, 0, restart.output)
    }

    /// A user's process holding a pipe root made and writing stderr to a
    /// file only root may open (both from a root shell): the user cannot
    /// open the pipe through /proc, but checkpoints it anyway, the unread
    /// bytes come back, and stderr becomes cr_restart's, with a warning.
    func testUsersProcessWithAPipeRootMade() throws {
        guard env.isRoot, let user = env.user else { throw XCTSkip("needs root and the test user") }
        let work = env.workDir("root-pipe", user: user)
        let (target, pid) = try Fixture.start([tool("rootpipe"), "\(user.uid)", "\(user.gid)", "\(work)/root-only.log"], user: nil, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        let path = "\(work)/context"
        let ck = runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", path, "\(pid)"], user: user, cwd: work)
        XCTAssertEqual(ck.code, 0, ck.output)
        _ = target.wait(timeout: 5)
        let restart = try Child([tool("cr_restart"), "--no-restore-pid", "--verbose", path], user: user, cwd: work)
        XCTAssertTrue(restart.read(until: "restored"), restart.output)
        guard let word = restart.output.split(separator: " ").firstIndex(of: "pid").map({ restart.output.split(separator: " ")[$0 + 1] }),
              let newPID = pid_t(word) else { return XCTFail("no pid in \(restart.output)") }
        kill(newPID, SIGTERM)
        let out = restart.readToEnd(timeout: 20)
        XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), out)
        XCTAssertTrue(out.contains("fd 2 (\(work)/root-only.log) cannot be reopened by this user"), out)
    }

    /// Seccomp filters can be read only with CAP_SYS_ADMIN: a user's
    /// checkpoint says the restarted process will run without them.
    func testSeccompFilterOfAUserIsReported() throws {
        guard let user = env.user else { throw XCTSkip("needs the test user") }
        let work = env.workDir("seccomp", user: user)
        let (target, pid) = try Fixture.start([tool("environment"), work, "seccomp"], user: user, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        let r = runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/context", "\(pid)"], user: user, cwd: work)
        XCTAssertEqual(r.code, 0, r.output)
        XCTAssertTrue(r.output.contains("runs under a seccomp filter, which only root can read"), r.output)
    }

    /// A lock the original still holds cannot be taken again: the restart
    /// fails with one line naming the descriptor, instead of restoring a
    /// process that believes it holds a lock it does not.
    func testLockStillHeldByTheOriginalFailsTheRestart() throws {
        let work = env.workDir("lock-held", user: nil)
        let (target, pid) = try Fixture.start([tool("locks"), work], user: nil, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        usleep(100_000)
        let path = "\(work)/context"
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "-f", path, "\(pid)"]).code, 0)
        let r = runTool([tool("cr_restart"), "--no-restore-pid", path])
        XCTAssertEqual(r.code, EAGAIN, r.output)
        XCTAssertTrue(r.output.contains("cannot take its write flock again"), r.output)
        XCTAssertFalse(r.output.contains("PASS"), r.output)
    }

    /// Without --save-exe the executable is referenced by path: once it is
    /// deleted the restart is refused with one line naming it (ENOENT) and
    /// the checkpoint option that would have kept it.
    func testDeletedExecutableWithoutSaveIsRefused() throws {
        let work = env.workDir("deleted-exe", user: nil)
        let (target, pid) = try Fixture.start([tool("savefiles"), work], user: nil, cwd: work)
        usleep(100_000)
        let path = "\(work)/context"
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", path, "\(pid)"]).code, 0)
        _ = target.wait(timeout: 5)
        unlink(work + "/savefiles-copy")
        let r = runTool([tool("cr_restart"), "--no-restore-pid", path])
        XCTAssertEqual(r.code, ENOENT, r.output)
        XCTAssertTrue(r.output.contains("savefiles-copy") && r.output.contains("is missing") && r.output.contains("--save-exe"), r.output)
        XCTAssertEqual(r.output.split(separator: "\n").count, 1, r.output)
        _ = runTool(["/bin/sh", "-c", "rm -f /dev/shm/swiftcr-savefiles-*"])
    }

    /// A checkpoint that lets the target run takes its TCP sockets out of
    /// repair mode again: the original's connection keeps working.
    func testTCPConnectionOfARunningTargetStillWorks() throws {
        guard env.isRoot else { throw XCTSkip("TCP_REPAIR needs root") }
        let work = env.workDir("tcp-run", user: nil)
        let (target, pid) = try Fixture.start([tool("tcp"), "repaired"], user: nil, cwd: work)
        usleep(100_000)
        let ck = runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/context", "\(pid)"])
        XCTAssertEqual(ck.code, 0, ck.output)
        kill(pid, SIGTERM)
        let out = target.readToEnd(timeout: 20)
        XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), out)
        XCTAssertEqual(target.wait(timeout: 5)?.code, 0)
    }

    /// Datagrams waiting in a UDP socket are saved (until 2026-12-07 the
    /// checkpoint warned that they were not): no warning, and the image lists them.
    func testWaitingUDPDatagramsAreSaved() throws {
        let work = env.workDir("udp-queue", user: nil)
        let script = """
            import os, socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"hi", s.getsockname())
            print(f"READY {os.getpid()}", flush=True); time.sleep(60)
            """
        let (target, pid) = try Fixture.start(["/usr/bin/python3", "-c", script], user: nil, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        let r = runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/context", "\(pid)"])
        XCTAssertEqual(r.code, 0, r.output)
        XCTAssertFalse(r.output.contains("not saved"), r.output)
        let shown = runTool([tool("swiftcr"), "inspect", "--fds", "\(work)/context"])
        XCTAssertTrue(shown.output.contains("127.0.0.1:") && shown.output.contains("queued 2 bytes"), shown.output)
    }

    /// A job on a terminal (script(1) gives each run its own pty): after
    /// restart under another terminal, /dev/tty and stdio are cr_restart's
    /// terminal, which is the controlling one, and the job is in the foreground.
    func testTerminalJobReattachesToRestartsTerminal() throws {
        for user in [nil, env.user] {
            let work = env.workDir("tty-\(user == nil ? "root" : "user")", user: user)
            let original = try Child(["/usr/bin/script", "-qfec", tool("tty"), "/dev/null"], user: user, cwd: work)
            XCTAssertTrue(original.read(until: "READY") && original.read(until: "\n"), original.output)
            guard let pid = original.output.split(whereSeparator: { $0.isWhitespace }).drop(while: { $0 != "READY" }).dropFirst().first.flatMap({ pid_t($0) }) else {
                return XCTFail("no pid: \(original.output)")
            }
            let image = "\(work)/context"
            let ck = runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", image, "\(pid)"], user: user, cwd: work)
            XCTAssertEqual(ck.code, 0, ck.output)
            _ = original.wait(timeout: 10)
            reapOrphans()
            let restart = try Child(["/usr/bin/script", "-qfec", "\(tool("cr_restart")) --no-restore-pid --term \(image)", "/dev/null"], user: user, cwd: work)
            let out = restart.readToEnd(timeout: 30)
            XCTAssertTrue(out.contains("on the tty") && out.contains("PASS") && !out.contains("FAIL"), out)
            _ = restart.wait(timeout: 5)
        }
    }

    /// Root restoring a user's process gives it back the user's credentials;
    /// the user may not restore root's image (never more than the restorer holds).
    func testCredentialsComeBackAndAreNeverRaised() throws {
        guard env.isRoot, let user = env.user else { throw XCTSkip("needs root and the test user") }
        let work = env.workDir("credentials", user: user)
        let (target, pid) = try Fixture.start([tool("memory"), work + "/m.data"], user: user, cwd: work)
        usleep(100_000)
        let path = "\(work)/context"
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", path, "\(pid)"]).code, 0)
        _ = target.wait(timeout: 5)
        let restart = try Child([tool("cr_restart"), "--verbose", path], cwd: work)
        XCTAssertTrue(restart.read(until: "restored"), restart.output)
        let status = runTool(["/bin/grep", "^Uid:", "/proc/\(pid)/status"]).output
        XCTAssertTrue(status.contains("\t\(user.uid)\t\(user.uid)\t\(user.uid)\t\(user.uid)"), status)
        kill(pid, SIGTERM)
        XCTAssertTrue(restart.readToEnd(timeout: 20).contains("PASS"), restart.output)

        let (rootTarget, rootPID) = try Fixture.start([tool("memory"), env.dir + "/root-m.data"], user: nil, cwd: env.dir)
        let rootImage = "\(work)/root-context"
        XCTAssertEqual(runTool([tool("cr_checkpoint"), "-p", "-f", rootImage, "\(rootPID)"]).code, 0)
        chmod(rootImage, 0o444)
        let refused = runTool([tool("cr_restart"), "--no-restore-pid", rootImage], user: user, cwd: work)
        XCTAssertEqual(refused.code, EPERM, refused.output)
        XCTAssertTrue(refused.output.contains("image belongs to uid 0"), refused.output)
        kill(rootPID, SIGKILL)
        _ = rootTarget.wait(timeout: 5)
    }

    /// An image whose vDSO differs from this kernel's and that keeps no copy
    /// of it (written before 2026-12-07) is refused with BLCR's CR_EBADARCH
    /// (exit 2359 & 0xFF), naming both kernels; so is one whose vDSO has a
    /// function this kernel's lacks. One whose vDSO differs otherwise runs
    /// through the proxy (a byte of its padding changed, with the checksum:
    /// this machine has no other kernel), and its process checks its clocks.
    func testForeignVDSOIsBridgedOrRefused() throws {
        let work = env.workDir("vdso", user: nil)
        let (path, pid) = try image(of: [tool("memory"), work + "/m.data"], in: work)
        let foreign = "\(work)/foreign"
        func refused(_ change: @escaping (inout Mapping) -> Void, says: String) throws {
            try rewrite(path, to: foreign) { p in
                for i in p.mappings.indices where p.mappings[i].path == "[vdso]" { change(&p.mappings[i]) }
            }
            let r = runTool([tool("cr_restart"), foreign])
            XCTAssertEqual(r.code, 2359 & 0xFF, r.output)
            XCTAssertTrue(r.output.contains(says) && r.output.contains("restore on the kernel that wrote the image"), r.output)
            XCTAssertEqual(r.output.split(separator: "\n").count, 1, r.output)
            XCTAssertEqual(kill(pid, 0), -1, "nothing may be left running")
        }
        // As an older image: no copy of its vDSO.
        try refused({ m in m.content = []; m.contentChecksum ^= 0xdead }, says: "keeps no copy of its own")
        // A function this kernel's vDSO lacks: __vdso_getcpu renamed in the copy's .dynstr.
        try refused({ m in
            let name = Array("__vdso_getcpu".utf8)
            if let at = (0..<(m.content.count - name.count)).first(where: { Array(m.content[$0..<($0 + name.count)]) == name }) { m.content[at + 2] = UInt8(ascii: "X") }
            m.contentChecksum = CRC32C.checksum(m.content)
        }, says: "this kernel's vDSO has no __Xdso_getcpu")

        let (clocks, clocksPID) = try image(of: [tool("vdsoproxy"), "proxied"], in: work)
        try rewrite(clocks, to: foreign) { p in
            for i in p.mappings.indices where p.mappings[i].path == "[vdso]" {
                p.mappings[i].content[p.mappings[i].content.count - 1] ^= 0x5a
                p.mappings[i].contentChecksum = CRC32C.checksum(p.mappings[i].content)
            }
        }
        let restart = try Child([tool("cr_restart"), "--verbose", foreign], cwd: work)
        XCTAssertTrue(restart.read(until: "restored"), restart.output)
        XCTAssertTrue(restart.output.contains("vDSO is not the image's: a proxy"), restart.output)
        kill(clocksPID, SIGTERM)
        let out = restart.readToEnd(timeout: 20)
        XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), out)
        XCTAssertEqual(restart.wait(timeout: 5)?.code, 0, out)
    }

    /// Decodes an image, changes its process record, and writes it again.
    func rewrite(_ from: String, to: String, _ change: (inout ProcessState) -> Void) throws {
        let inFD = open(from, O_RDONLY)
        let outFD = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(inFD); close(outFD) }
        let reader = try ImageReader(fd: inFD)
        let writer = try ImageWriter(fd: outFD)
        while let s = try reader.next() {
            switch s {
            case .inventory(let inv): try writer.write(inv)
            case .process(var p): change(&p); try writer.write(p)
            case .pages(let p): try writer.writePages(pid: p.pid, runs: p.runs.map { ($0.address, $0.pageCount) }, data: p.data)
            case .zombie(let z): try writer.write(z)
            case .tree(let t): try writer.write(t)
            case .index, .end: break
            }
        }
        try writer.finish()
    }
}
