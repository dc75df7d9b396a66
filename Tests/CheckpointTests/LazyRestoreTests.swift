import Glibc
import XCTest

/// cr_restart --lazy (issue 16): the processes run before their private
/// anonymous memory is in; it comes on demand and in the background.
final class LazyRestoreTests: XCTestCase {
    var env: TestEnvironment!

    override func setUpWithError() throws { env = try TestEnvironment.get() }

    /// Seeded regions touched in random order, dropped (MADV_DONTNEED),
    /// moved (mremap), unmapped in part, and read by a forked child, all
    /// while pages are still missing; the pager must have run (its -v line).
    func testLazyRestoreWhilePagesAreStillMissingAsRoot() throws {
        guard env.isRoot else { throw XCTSkip("userfaultfd fork events need CAP_SYS_PTRACE") }
        let seed = TestEnvironment.seed(for: "lazytouch")
        for mib in [96, 384] {
            var s = Scenario(fixture: "lazytouch", arguments: ["\(mib)", "\(seed)"])
            s.restartArguments = ["--lazy"]
            s.expectOutput = "lazy: "
            s.settle = 500_000
            try s.run(.rootOriginalPID)
        }
    }

    /// An eager restart puts private anonymous memory in by UFFDIO_COPY
    /// through a userfaultfd it closes before the process runs: the same
    /// fixture, eager, as root and as a user (UFFD_USER_MODE_ONLY), finds its
    /// pages and no userfaultfd left.
    func testEagerRestoreByCopyLeavesNoUserfaultfd() throws {
        let s = Scenario(fixture: "lazytouch", arguments: ["64", "11"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    /// A thread unmapping registered memory page by page while the pager
    /// finishes (Fixtures/lazyunmap.c): each munmap waits for the restorer
    /// to read its event, so a user's restorer that stopped reading before
    /// it let go of the threads it traces waited for ever (the restart never ended).
    func testUnmappingWhileThePagerFinishesAsRootAndUser() throws {
        var s = Scenario(fixture: "lazyunmap", arguments: ["@/go", "512"], poke: { _ in })
        s.restartArguments = ["--lazy"]
        s.betweenRuns = { work in _ = FileManager.default.createFile(atPath: work + "/go", contents: nil) }
        s.expectOutput = "MiB came in"
        // The pager waits half a second once every page is in: the thread is
        // then inside a madvise whose event nobody reads, every time.
        s.restartEnvironment = ["SWIFTCR_TEST_PAGER_END_DELAY_MS=500"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    /// The memory, threads, tree and shared-memory fixtures come back under --lazy.
    func testFixturesComeBackLazilyAsRoot() throws {
        guard env.isRoot else { throw XCTSkip("userfaultfd fork events need CAP_SYS_PTRACE") }
        try runLazily(threads: "exact", tree: ["ids"], treeScope: ["--tree"], treeRestart: ["--restore-pgid", "--restore-sid"], .rootOriginalPID)
    }

    /// The same fixtures as a user (new PIDs; forks followed by tracing).
    func testFixturesComeBackLazilyAsAUser() throws {
        guard env.user != nil else { throw XCTSkip("no unprivileged test user") }
        try runLazily(threads: "newtid", tree: ["plain"], treeScope: [], treeRestart: [], .unprivilegedNewPID)
    }

    func runLazily(threads: String, tree: [String], treeScope: [String], treeRestart: [String], _ mode: Scenario.Mode) throws {
        let poke: @Sendable (Child) -> Void = { signalDescendants(of: $0.pid, SIGTERM) }
        let memory = Scenario(fixture: "memory", arguments: ["@/memory.data"])
        let thread = Scenario(fixture: "threads", arguments: [threads])
        var forked = Scenario(fixture: "tree", arguments: tree, poke: poke)
        (forked.checkpointArguments, forked.restartArguments, forked.settle) = (treeScope, treeRestart, 400_000)
        var shmem = Scenario(fixture: "shmem", poke: poke)
        (shmem.checkpointArguments, shmem.settle) = (treeScope, 300_000)
        for s in [memory, thread, forked, shmem] {
            var lazy = s
            lazy.restartArguments = ["--lazy"] + s.restartArguments
            try lazy.run(mode)
        }
    }

    /// A user: no userfaultfd fork events (CAP_SYS_PTRACE), so cr_restart
    /// stays the tracer until every page is in and fills each forked child
    /// itself; the fixture's child checks its region (as a user, with new PIDs).
    func testLazyRestoreAsAUserFollowsForksByTracing() throws {
        guard env.user != nil else { throw XCTSkip("no unprivileged test user") }
        let seed = TestEnvironment.seed(for: "lazytouch-user")
        var s = Scenario(fixture: "lazytouch", arguments: ["192", "\(seed)"])
        s.restartArguments = ["--lazy"]
        s.expectOutput = "MiB came in"
        s.settle = 500_000
        try s.run(.unprivilegedNewPID)
        try s.run(.unprivilegedNamespace)  // original PIDs in a user+PID namespace of cr_restart's
    }

    /// Starts a lazy restart of a large lazytouch image (made and restarted
    /// as `user`); returns cr_restart and the restored PID once it runs.
    func startLazy(_ label: String, user: TestUser? = nil) throws -> (Child, pid_t) {
        let work = env.workDir(label, user: user)
        let (target, old) = try Fixture.start(["\(env.bin)/lazytouch", "768", "3", "4"], user: user, cwd: work)
        let image = "\(work)/context"
        let ck = runTool(["\(env.bin)/cr_checkpoint", "-p", "--kill", "-f", image, "\(old)"], user: user, cwd: work)
        XCTAssertEqual(ck.code, 0, ck.output)
        _ = target.wait(timeout: 10)
        reapOrphans()
        let restart = try Child(["\(env.bin)/cr_restart", "--verbose", "--lazy"] + (user == nil ? [] : ["--no-restore-pid"]) + [image], user: user, cwd: work)
        XCTAssertTrue(restart.read(until: "restored"), restart.output)
        guard let line = restart.output.split(separator: "\n").first(where: { $0.contains(" as pid ") }),
              let pid = line.split(separator: " ").drop(while: { $0 != "pid" }).dropFirst().first.flatMap({ pid_t($0) }) else {
            throw TestFailure("no restored PID in: \(restart.output)")
        }
        return (restart, pid)
    }

    /// The restored process killed in the middle of the lazy phase: the
    /// pager stops, cr_restart ends as the process did, nothing is left; as
    /// root (userfaultfd fork events) and as a user (cr_restart its tracer).
    func testProcessKilledDuringTheLazyPhaseLeavesNothing() throws {
        for user in env.isRoot ? [nil, env.user] : [env.user] {
            let (restart, pid) = try startLazy("lazy-kill-process", user: user)
            kill(pid, SIGKILL)
            let status = restart.wait(timeout: 20)
            XCTAssertEqual(status?.signal, SIGKILL, "\(user?.name ?? "root") cr_restart: \(String(describing: status)) \(restart.output)")
            XCTAssertNotEqual(kill(pid, 0), 0, "the restored process is still there")
            XCTAssertEqual(childProcesses(of: restart.pid), [], "cr_restart left processes behind")
        }
    }

    /// cr_restart killed in the middle of the lazy phase: its watchdog kills
    /// the process (as a user, so does the tracer's PTRACE_O_EXITKILL), which
    /// must not run on with pages that read as zeros.
    func testRestorerKilledDuringTheLazyPhaseTakesTheProcess() throws {
        for user in env.isRoot ? [nil, env.user] : [env.user] {
            let (restart, pid) = try startLazy("lazy-kill-restorer", user: user)
            kill(restart.pid, SIGKILL)
            _ = restart.wait(timeout: 10)
            var gone = false
            for _ in 0..<500 where !gone {
                reapOrphans()
                gone = kill(pid, 0) != 0
                if !gone { usleep(10_000) }
            }
            XCTAssertTrue(gone, "\(user?.name ?? "root"): the restored process outlived its restorer's lazy phase")
        }
    }
}
