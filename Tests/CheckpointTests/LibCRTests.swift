import Glibc
import LinuxKit
import XCTest

/// BLCR-aware C programs built against include/libcr.h and linked with -lcr,
/// and unmodified programs under cr_run: callbacks, critical sections,
/// failures and omission, with BLCR's return values and exit codes.
final class LibCRTests: XCTestCase {
    var env: TestEnvironment!

    override func setUpWithError() throws { env = try TestEnvironment.get() }

    func tool(_ name: String) -> String { "\(env.bin)/\(name)" }

    /// Thread- and signal-context callbacks get 0 after a checkpoint the
    /// process survives and > 0 in the restarted image.
    func testCallbacksSeeZeroThenRestartedAsRootAndUser() throws {
        for user in [nil, env.user] {
            let work = env.workDir("libcr-callbacks", user: user)
            let image = "\(work)/context"
            let (target, pid) = try Fixture.start([tool("cr_callbacks"), image], user: user, cwd: work)
            let first = runTool([tool("cr_checkpoint"), "-p", "--require-libcr", "-f", "\(work)/first", "\(pid)"], user: user, cwd: work)
            XCTAssertEqual(first.code, 0, first.output)
            let second = runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", image, "\(pid)"], user: user, cwd: work)
            XCTAssertEqual(second.code, 0, second.output)
            _ = target.wait(timeout: 10)
            reapOrphans()
            let restart = try Child([tool("cr_restart"), "--no-restore-pid", "--term", image], user: user, cwd: work)
            let out = restart.readToEnd(timeout: 30)
            XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), "\(user?.name ?? "root"): \(out)")
            XCTAssertEqual(restart.wait(timeout: 5)?.code, 0, out)
        }
    }

    /// Restarted copies are checkpointed again with their callbacks, round
    /// after round (found by swiftcr-job's requeue cycles). A user's restart
    /// runs in a new PID namespace, where the checkpointer's pid reads 0
    /// (si_pid, SO_PEERCRED): the agent finds it by the pid the request
    /// carries. A restart with new TIDs (--no-restore-pid, or a namespace's
    /// second generation) moves signal-context callbacks to the new TID.
    func testCallbacksRunInRestartedCopiesAsRootAndUser() throws {
        for (user, options) in [(nil, []), (nil, ["--no-restore-pid"]), (env.user, []), (env.user, ["--no-restore-pid"])] as [(TestUser?, [String])] {
            let who = "\(user?.name ?? "root") \(options.joined(separator: " "))"
            let work = env.workDir("libcr-again\(options.count)", user: user)
            let rounds = 3
            var (current, pid) = try Fixture.start([tool("cr_again"), "\(rounds)"], user: user, cwd: work)
            // Capabilities as they were: not every one a namespace's restorer holds.
            func capabilities(_ p: pid_t) -> String? {
                (try? String(contentsOfFile: "/proc/\(p)/status", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("CapEff:") }.map(String.init)
            }
            let originalCapabilities = capabilities(pid)
            for round in 1...rounds {
                let image = "\(work)/round\(round)"
                let r = runTool([tool("cr_checkpoint"), "--kill", "-f", image, "\(pid)"], user: user, cwd: work)
                XCTAssertEqual(r.code, 0, "\(who) round \(round): \(r.output)")
                XCTAssertFalse(r.output.contains("no libcr agent answered"), "\(who) round \(round): \(r.output)")
                _ = current.wait(timeout: 10)
                reapOrphans()
                current = try Child([tool("cr_restart")] + options + [image], user: user, cwd: work)
                guard let restored = restoredProgram(under: current.pid) else {
                    XCTFail("\(who) round \(round): no restored program under cr_restart: \(current.readToEnd(timeout: 1))")
                    kill(current.pid, SIGKILL)
                    return
                }
                pid = restored
                XCTAssertEqual(capabilities(pid), originalCapabilities, "\(who) round \(round)")
            }
            kill(pid, SIGTERM)
            let out = current.readToEnd(timeout: 30)
            XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), "\(who): \(out)")
            XCTAssertEqual(current.wait(timeout: 5)?.code, 0, "\(who): \(out)")
        }
    }

    /// BLCR's headers and checks (Fixtures/libcr/cr_headers.c, cr_api.c cite
    /// BLCR's sources): CR_ENOINIT before cr_init, hook argument checks,
    /// callbacks newest first, and polling one's own request gives 1, then
    /// CR_POLL_CHKPT_ERR_POST with CR_ERESTARTED in the restarted copy.
    func testBLCRHeadersChecksAndPollAfterRestartAsRootAndUser() throws {
        for user in [nil, env.user] {
            let who = user?.name ?? "root"
            let work = env.workDir("libcr-api", user: user)
            let headers = runTool([tool("cr_headers")], user: user, cwd: work)
            XCTAssertTrue(headers.output.contains("PASS"), "\(who): \(headers.output)")
            let original = runTool([tool("cr_api"), "\(work)/self.img"], user: user, cwd: work)
            XCTAssertTrue(original.output.contains("original: PASS") && !original.output.contains("FAIL"), "\(who): \(original.output)")
            reapOrphans()
            let restart = runTool([tool("cr_restart"), "--no-restore-pid", "\(work)/self.img"], user: user, cwd: work)
            XCTAssertTrue(restart.output.contains("restarted: PASS") && !restart.output.contains("FAIL"), "\(who): \(restart.output)")
        }
    }

    /// libcr's thread takes no signal the application blocks (issue 14 C3).
    func testAgentThreadTakesNoApplicationSignalsAsRootAndUser() {
        for user in [nil, env.user] {
            let r = runTool([tool("cr_agentmask")], user: user, cwd: env.workDir("libcr-agentmask", user: user))
            XCTAssertTrue(r.output.contains("PASS") && !r.output.contains("FAIL"), "\(user?.name ?? "root"): \(r.output)")
        }
    }

    /// A callback's cr_forward_checkpoint is checked in the call, as BLCR's
    /// kernel does (its edeadlk and forward tests): to a requester with
    /// CR_CHKPT_PROHIBIT_SELF EDEADLK (issue 14 B10), to init EPERM, to
    /// nobody ESRCH, to a process in another checkpoint's callbacks EBUSY;
    /// the checkpoint itself goes on.
    func testProhibitSelfHoldsThroughForwardsAsRootAndUser() throws {
        for user in [nil, env.user] {
            let work = env.workDir("libcr-prohibit", user: user)
            let r = runTool([tool("cr_prohibit"), work + "/ctx"], user: user, cwd: work)
            XCTAssertTrue(r.output.contains("PASS") && !r.output.contains("FAIL"), "\(user?.name ?? "root"): \(r.output)")
        }
    }

    /// A target that exits inside its callback: ESRCH (exit 3) at once, not a time-out (issue 14 D9).
    func testTargetExitingInItsCallbackIsESRCHAsRootAndUser() throws {
        for user in [nil, env.user] {
            let work = env.workDir("libcr-exitcb", user: user)
            let (target, pid) = try Fixture.start([tool("cr_exitcb")], user: user, cwd: work)
            let r = runTool([tool("cr_checkpoint"), "-p", "-t", "5", "-f", work + "/ctx", "\(pid)"], user: user, cwd: work)
            XCTAssertEqual(r.code, ESRCH, "\(user?.name ?? "root"): want ESRCH, not the time limit's ETIMEDOUT: \(r.output)")
            _ = target.wait(timeout: 5)
        }
    }

    /// A second checkpoint of a process inside its callbacks fails with EBUSY (issue 14 B9).
    func testSecondCheckpointDuringCallbacksIsEBUSYAsRootAndUser() throws {
        for user in [nil, env.user] {
            let who = user?.name ?? "root"
            let work = env.workDir("libcr-busy", user: user)
            let (target, pid) = try Fixture.start([tool("cr_busy")], user: user, cwd: work)
            let first = try Child([tool("cr_checkpoint"), "-p", "-f", work + "/first", "\(pid)"], user: user, cwd: work)
            usleep(400_000)
            let second = runTool([tool("cr_checkpoint"), "-p", "-f", work + "/second", "\(pid)"], user: user, cwd: work)
            XCTAssertEqual(second.code, EBUSY, "\(who): \(second.output)")
            XCTAssertEqual(access(work + "/second", F_OK), -1, "\(who): a refused checkpoint left an image")
            let out = first.readToEnd(timeout: 20)
            XCTAssertEqual(first.wait(timeout: 5)?.code, 0, "\(who): \(out)")
            kill(pid, SIGTERM)
            let result = target.readToEnd(timeout: 10)
            XCTAssertTrue(result.contains("PASS") && !result.contains("FAIL"), "\(who): \(result)")
        }
    }

    /// A child forked after its parent's cr_init() gets an agent of its own (issue 14 C1).
    func testForkedChildGetsItsOwnAgentAsRootAndUser() throws {
        for user in [nil, env.user] { try checkpointInPlace([tool("cr_forkinit")], label: "libcr-forkinit", user: user) }
    }

    /// Callbacks of two processes that wait for each other: run at once, they meet (issue 14 C2).
    func testCallbacksOfSeveralProcessesRunAtOnceAsRootAndUser() throws {
        for user in [nil, env.user] { try checkpointInPlace([tool("cr_meet")], label: "libcr-meet", user: user, options: ["--tree", "-t", "30"]) }
    }

    /// A request completes only after the callbacks have returned (issue 14 B3),
    /// in the restarted copy too.
    func testRequestCompletesAfterTheCallbacksAsRootAndUser() throws {
        for user in [nil, env.user] {
            let work = env.workDir("libcr-done", user: user)
            let r = runTool([tool("cr_done"), work + "/ctx"], user: user, cwd: work)
            XCTAssertTrue(r.output.contains("PASS") && !r.output.contains("FAIL"), "\(user?.name ?? "root"): \(r.output)")
            // The restarted copy's main thread, waiting on the same request, goes on only after the callback there.
            let copy = runTool([tool("cr_restart"), "--no-restore-pid", work + "/ctx"], user: user, cwd: work)
            XCTAssertTrue(copy.output.contains("the restarted copy") && copy.output.contains("PASS") && !copy.output.contains("FAIL"),
                          "\(user?.name ?? "root"), restarted: \(copy.output)")
        }
    }

    /// After cr_request_restart the restored process is the caller's child
    /// (issue 14 B2), also where a helper led its original session first.
    func testRequestedRestartIsTheCallersChild() throws {
        let work = env.workDir("libcr-rstrt-child", user: nil)
        let (image, _) = try Fixture.image(of: [tool("busyloop")], in: work, bin: env.bin)
        reapOrphans()
        let r = runTool([tool("cr_rstrt_child"), image], cwd: work)
        XCTAssertTrue(r.output.contains("PASS") && !r.output.contains("FAIL"), r.output)
        // Its requester, in cr_get_restart_info() and cr_checkpoint()'s return, is the caller.
        let (asked, _) = try Fixture.image(of: [tool("cr_requester")], in: work, bin: env.bin)
        reapOrphans()
        let requested = runTool([tool("cr_rstrt_child"), asked, "exit"], cwd: work)
        XCTAssertTrue(requested.output.contains("PASS") && !requested.output.contains("FAIL"), requested.output)
        // New PIDs with the original session and group, twice (BLCR's pid_restore), as root.
        let (leader, _) = try Fixture.image(of: [tool("sessionids"), "both"], in: work, bin: env.bin)
        reapOrphans()
        let session = runTool([tool("cr_rstrt_child"), leader, "sid"], cwd: work, timeout: 90)
        XCTAssertTrue(session.output.contains("PASS") && !session.output.contains("FAIL"), session.output)
        // A user asking for the original PIDs, which it may not choose: it gets
        // them in a PID namespace, and the process is still its child (BLCR's
        // crut tests check their PID and wait for it).
        guard let user = env.user else { return }
        let userWork = env.workDir("libcr-rstrt-child-pid", user: user)
        let (target, pid) = try Fixture.start([tool("busyloop")], user: user, cwd: userWork)
        let made = runTool([tool("cr_checkpoint"), "-p", "--kill", "-f", userWork + "/ctx", "\(pid)"], user: user, cwd: userWork)
        XCTAssertEqual(made.code, 0, made.output)
        _ = target.wait(timeout: 5)
        let own = runTool([tool("cr_rstrt_child"), userWork + "/ctx", "pid", "\(pid)"], user: user, cwd: userWork)
        XCTAssertTrue(own.output.contains("PASS") && !own.output.contains("FAIL"), "\(user.name): \(own.output)")
    }

    /// fork() while libcr's agent thread starts (MPICH Hydra's proxy does):
    /// libcr's atfork handler allocates nothing, takes no lock, and the
    /// child's own cr_init() gets an agent that waits for requests (13 of
    /// 2000 rounds spun for good before the agent's first wait came before
    /// cr_init's return; 600 rounds here, about 20 s in a debug build).
    func testForkRightAfterCrInitNeverHangsTheChild() {
        let r = runTool([tool("cr_forkrace"), "600"], cwd: env.workDir("libcr-forkrace", user: nil), timeout: 240)
        XCTAssertTrue(r.output.contains("PASS") && !r.output.contains("FAIL"), r.output)
    }

    /// The cause of that hang, seen every time: the fixture interposes malloc and
    /// counts allocations in a forked child before its own atfork handler runs.
    func testAtforkChildHandlerAllocatesNothing() {
        let r = runTool([tool("cr_atforkalloc")], cwd: env.workDir("libcr-atforkalloc", user: nil), timeout: 60)
        XCTAssertTrue(r.output.contains("PASS") && !r.output.contains("FAIL"), r.output)
        XCTAssertEqual(r.code, 0, r.output)
    }

    /// A critical section holds a self-request back until it is left; TEMP_FAILURE_CODE(7) reaches the reap.
    func testCriticalSectionDefersASelfRequest() throws {
        let work = env.workDir("libcr-critical", user: nil)
        let target = try Child([tool("cr_critical"), work], cwd: work)
        let out = target.readToEnd(timeout: 60)
        XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), out)
        XCTAssertEqual(target.wait(timeout: 5)?.code, 0, out)
    }

    /// A callback that cancels ends the chain: older callbacks skipped, newer
    /// ones' cr_checkpoint() gives the same failure (BLCR's failed_cb2);
    /// PERM_FAILURE kills inside the call, so nothing after it runs.
    func testACancellingCallbackEndsTheChainAsRootAndUser() throws {
        for user in [nil, env.user] {
            let who = user?.name ?? "root"
            let work = env.workDir("libcr-chainfail", user: user)
            for mode in ["temp", "omit", "code"] {
                let r = runTool([tool("cr_chainfail"), mode], user: user, cwd: work)
                XCTAssertTrue(r.output.contains("PASS") && !r.output.contains("FAIL"), "\(who) \(mode): \(r.output)")
            }
            let target = try Child([tool("cr_chainfail"), "perm"], user: user, cwd: work)
            let out = target.readToEnd(timeout: 60)
            XCTAssertFalse(out.contains("RETURNED"), "\(who): code after cr_checkpoint(CR_CHECKPOINT_PERM_FAILURE) ran: \(out)")
            XCTAssertEqual(target.wait(timeout: 10)?.signal, SIGKILL, "\(who): \(out)")
        }
    }

    /// A stop comes after the callbacks (BLCR's stopped test): --stop, a
    /// process stopped at checkpoint time (woken for them, stopped again),
    /// and its restart; signal- and thread-context callbacks.
    func testStopsComeAfterTheCallbacksAsRootAndUser() throws {
        for user in [nil, env.user] {
            for context in ["signal", "thread"] {
                let work = env.workDir("libcr-stopped-\(context)", user: user)
                let r = runTool([tool("cr_stopped"), context, work], user: user, cwd: work, timeout: 180)
                XCTAssertTrue(r.output.contains("PASS") && !r.output.contains("FAIL"), "\(user?.name ?? "root") \(context): \(r.output)")
            }
        }
    }

    /// TEMP_FAILURE: the process goes on, cr_checkpoint exits 50 (or the user code); PERM_FAILURE kills it, exit 51.
    func testCallbackFailuresGiveBLCRExitCodes() throws {
        let work = env.workDir("libcr-fail", user: nil)
        for (arguments, exit) in [(["temp"], Int32(50)), (["temp", "7"], 7)] {
            let (target, pid) = try Fixture.start([tool("cr_tempfail")] + arguments, user: nil, cwd: work)
            let r = runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/ctx", "\(pid)"])
            XCTAssertEqual(r.code, exit, r.output)
            XCTAssertTrue(r.output.contains("CR_ETEMPFAIL"), r.output)
            XCTAssertEqual(access("\(work)/ctx", F_OK), -1, "a cancelled checkpoint left an image")
            kill(pid, SIGTERM)
            let out = target.readToEnd(timeout: 20)
            XCTAssertTrue(out.contains("PASS"), out)
            _ = target.wait(timeout: 5)
        }
        let (target, pid) = try Fixture.start([tool("cr_tempfail"), "perm"], user: nil, cwd: work)
        let r = runTool([tool("cr_checkpoint"), "-p", "-f", "\(work)/ctx", "\(pid)"])
        XCTAssertEqual(r.code, 51, r.output)
        XCTAssertEqual(target.wait(timeout: 10)?.signal, SIGKILL, "PERM_FAILURE must kill the process")
    }

    /// cr_run makes an unmodified program BLCR-checkpointable (--require-libcr passes);
    /// cr_run --omit leaves it out (exit 3, ESRCH); without libcr --require-libcr gives 52.
    func testCRRunAndOmitOnUnmodifiedPrograms() throws {
        var s = Scenario(fixture: "memory", arguments: ["@/memory.data"])
        s.launcher = [tool("cr_run")]
        s.checkpointArguments = ["-p", "--require-libcr"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)

        let work = env.workDir("libcr-omit", user: nil)
        // Of --omit and --run the later wins, as in BLCR's cr_run script.
        for (argv, exit) in [([tool("cr_run"), "--omit", tool("busyloop")], Int32(3)), ([tool("busyloop")], 52),
                             ([tool("cr_run"), "--run", "--omit", tool("busyloop")], 3), ([tool("cr_run"), "--omit", "--run", "--", tool("busyloop")], 0),
                             ([tool("busyloop-linked-omit")], 3), ([tool("busyloop-linked-run")], 0)] {
            let (target, pid) = try Fixture.start(argv, user: nil, cwd: work)
            let r = runTool([tool("cr_checkpoint"), "-p", "--require-libcr", "-f", "\(work)/ctx", "\(pid)"])
            XCTAssertEqual(r.code, exit, "\(argv.last ?? ""): \(r.output)")
            kill(pid, SIGKILL)
            _ = target.wait(timeout: 5)
            unlink("\(work)/ctx")
        }
    }

    /// cr_run works for a Python interpreter and for a Swift program (two Swift runtimes in one process).
    func testCRRunOnPythonAndSwift() throws {
        let work = env.workDir("libcr-interpreters", user: nil)
        let python = ["/usr/bin/env", "python3", "-c", "import os,time\nprint('READY', os.getpid(), flush=True)\nwhile True: time.sleep(0.05)"]
        for (argv, marker) in [(python, "READY"), ([tool("swiftcr"), "demo-counter"], "started as")] {
            let target = try Child([tool("cr_run")] + argv, cwd: work)
            guard target.read(until: marker) else { XCTFail("did not start: \(target.output)"); continue }
            _ = target.read(until: "\n")
            let words = target.output.split(whereSeparator: { $0.isWhitespace })
            func after(_ w: Substring) -> pid_t? { words.firstIndex(of: w).flatMap { $0 + 1 < words.count ? pid_t(words[$0 + 1]) : nil } }
            let pid = after("READY") ?? after("pid")
            guard let pid else { XCTFail("no pid in \(target.output)"); continue }
            let image = "\(work)/ctx-\(pid)"
            let r = runTool([tool("cr_checkpoint"), "-p", "--require-libcr", "--kill", "-f", image, "\(pid)"])
            XCTAssertEqual(r.code, 0, "\(argv): \(r.output)")
            _ = target.wait(timeout: 10)
            reapOrphans()
            let restart = try Child([tool("cr_restart"), "--no-restore-pid", "--verbose", image], cwd: work)
            XCTAssertTrue(restart.read(until: "restored"), restart.output)
            usleep(300_000)
            kill(restart.pid, SIGTERM)
            let status = restart.wait(timeout: 10)
            XCTAssertEqual(status?.signal, SIGTERM, "\(argv): the restarted program should have been running until SIGTERM: \(restart.output)")
        }
    }

    /// A callback's cr_forward_checkpoint() adds a process the scope (-p) left out.
    func testForwardedProcessJoinsTheImage() throws {
        var s = Scenario(fixture: "cr_forward", poke: { kill($0.pid, SIGTERM) })
        s.betweenRuns = { work in
            let info = runTool(["\(TestEnvironment.buildDir)/swiftcr", "inspect", "\(work)/" + (((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []).first { $0.hasPrefix("context.") } ?? "")])
            XCTAssertEqual(info.output.components(separatedBy: "process:").count - 1, 2, "the forwarded helper is not in the image: \(info.output)")
        }
        try s.run(.rootOriginalPID)
    }

    /// A group member that init had adopted is init's child again after
    /// restart (issue 14 D14, BLCR tests/orphan.c). The test runner is a
    /// subreaper for every other test; here it steps aside so orphans go to init.
    func testRestoredOrphanIsInitsChildAgain() throws {
        _ = Syscall.prctl(.setChildSubreaper, 0)
        defer { _ = Syscall.prctl(.setChildSubreaper, 1) }
        var s = Scenario(fixture: "cr_orphan")
        s.checkpointArguments = ["-g"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
        try s.run(.unprivilegedNamespace)
    }

    /// Starts `argv`, checkpoints it (no kill; by default -p --require-libcr -t 10), sends TERM, and wants PASS.
    func checkpointInPlace(_ argv: [String], label: String, user: TestUser?, options: [String] = ["-p", "--require-libcr", "-t", "10"]) throws {
        let work = env.workDir(label, user: user)
        let (target, pid) = try Fixture.start(argv, user: user, cwd: work)
        let r = runTool([tool("cr_checkpoint")] + options + ["-f", work + "/ctx", "\(pid)"], user: user, cwd: work)
        XCTAssertEqual(r.code, 0, "\(label) \(user?.name ?? "root"): \(r.output)")
        kill(pid, SIGTERM)
        let out = target.readToEnd(timeout: 10)
        XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), "\(label) \(user?.name ?? "root"): \(out)")
    }

    /// A program that takes CR_SIGNUM for itself (a catcher, SIG_IGN, SIG_DFL)
    /// still has its callbacks run, never sees the checkpoint signal, and has
    /// its disposition back, continuing and restarted (issue 14 C4, BLCR tests/cr_signal.c).
    func testProgramsOwnCheckpointSignalDispositionAsRootAndUser() throws {
        for user in [nil, env.user] {
            for mode in ["catch", "ignore", "default"] { try checkpointInPlace([tool("cr_signal"), mode], label: "libcr-signal-\(mode)", user: user) }
        }
        var s = Scenario(fixture: "cr_signal", arguments: ["catch"])
        s.checkpointArguments = ["-p", "--require-libcr"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    /// CR_HOOK_CONT_NO_CALLBACKS and CR_HOOK_RSTRT_NO_CALLBACKS run once, in
    /// the thread that never called cr_init() (issue 14 C5, BLCR tests/hooks.c).
    func testNoCallbackHooksRunInThreadsWithoutCrInitAsRootAndUser() throws {
        for user in [nil, env.user] { try checkpointInPlace([tool("cr_hooks"), "cont"], label: "libcr-hooks", user: user) }
        var s = Scenario(fixture: "cr_hooks", arguments: ["rstrt"])
        s.checkpointArguments = ["-p", "--require-libcr"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    /// BLCR's prctl test: parent-death signal, dumpable, keep-capabilities,
    /// name and timer slack come back after a restart (issue 14 D15).
    func testPrctlSettingsComeBackAsRootAndUser() throws {
        let s = Scenario(fixture: "cr_prctl")
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    /// Only BLCR's cr_* API is in libcr.so's dynamic symbol table (local entries included).
    func testLibcrExportsOnlyTheCrAPI() throws {
        let r = runTool(["/usr/bin/nm", "-D", "--defined-only", tool("libcr.so")])
        XCTAssertEqual(r.code, 0, r.output)
        let exported = r.output.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: " ")
            guard f.count == 3 else { return nil }
            return String(f[2])
        }
        XCTAssertTrue(exported.contains("cr_checkpoint") && exported.contains("cr_register_callback") && exported.contains("cr_run_link_me"), "\(exported)")
        XCTAssertEqual(exported.filter { !$0.hasPrefix("cr_") }, [], "symbols beyond the cr_* API are exported")
    }

    /// libcr.so's SONAME is libcr.so.0, so programs record that (BLCR's
    /// library version 0); libcr_run.so and libcr_omit.so export nothing but
    /// their markers (BLCR libcr/Makefile.am cr_lib_check) and load libcr.so.0
    /// when they load, so a program linked with -lcr_omit records libcr_omit.so.0 and is
    /// left out (issue 14 D4; the omission itself: testCRRunAndOmitOnUnmodifiedPrograms).
    /// They load it locally: a program run by cr_run does not find libcr's API
    /// in its scope (BLCR's dlopen test; Fixtures/libcrscope.c).
    func testLibraryNamesAndTheRunAndOmitLibrariesExportOnlyTheirMarkers() throws {
        XCTAssertTrue(runTool(["/usr/bin/readelf", "-d", tool("libcr.so")]).output.contains("Library soname: [libcr.so.0]"))
        for (variant, marker) in [("run", "cr_run_link_me"), ("omit", "cr_omit_link_me")] {
            let lib = tool("libcr_\(variant).so")
            let dynamic = runTool(["/usr/bin/readelf", "-d", lib]).output
            XCTAssertTrue(dynamic.contains("Library soname: [libcr_\(variant).so.0]") && !dynamic.contains("Shared library: [libcr.so.0]"), dynamic)
            let nm = runTool(["/usr/bin/nm", "-D", "--defined-only", lib])
            XCTAssertEqual(nm.code, 0, nm.output)
            let exported = nm.output.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
            XCTAssertEqual(exported, [marker], "libcr_\(variant).so leaks symbols")
        }
        for user in [nil, env.user] {
            let scope = runTool([tool("cr_run"), tool("libcrscope")], user: user, cwd: env.workDir("libcr-scope", user: user))
            XCTAssertTrue(scope.output.contains("PASS") && !scope.output.contains("FAIL"), "\(user?.name ?? "root"): \(scope.output)")
        }
        for (program, needed) in [("busyloop-linked-omit", "libcr_omit.so.0"), ("busyloop-linked-run", "libcr_run.so.0"), ("cr_api", "libcr.so.0")] {
            let dynamic = runTool(["/usr/bin/readelf", "-d", tool(program)]).output
            XCTAssertTrue(dynamic.contains("Shared library: [\(needed)]"), "\(program) does not need \(needed): \(dynamic)")
        }
    }

    func testCRRunWithoutProgramIsAUsageError() {
        XCTAssertEqual(runTool([tool("cr_run")]).code, 255)
    }

    /// cr_run's own options (BLCR util/cr_run/cr_run.in): --help and -? print
    /// the usage, --version the version, both exit 0 and run nothing.
    func testCRRunHelpAndVersion() {
        for option in ["--help", "-?"] {
            let r = runTool([tool("cr_run"), option])
            XCTAssertEqual(r.code, 0, r.output)
            XCTAssertTrue(r.output.contains("usage: cr_run") && r.output.contains("--omit"), r.output)
        }
        let v = runTool([tool("cr_run"), "--version"])
        XCTAssertEqual(v.code, 0, v.output)
        XCTAssertTrue(v.output.contains("version"), v.output)
    }
}
