import Glibc
import XCTest

/// Pre-dumps and incremental checkpoints (issue 17): written pages tracked
/// with asynchronous userfaultfd write protection and PAGEMAP_SCAN, no
/// soft-dirty bits; chains of images restarted from the last one.
final class IncrementalTests: XCTestCase {
    var env: TestEnvironment!

    override func setUpWithError() throws { env = try TestEnvironment.get() }

    /// A pre-dump, then `parents` steps of the seeded incremental fixture
    /// (writes, MADV_DONTNEED, mremap, a new mapping, munmap, mprotect,
    /// copy-on-write pages of a file dropped), each followed by an
    /// incremental checkpoint of the one before; the last one kills, the
    /// restart from it must find every page. Returns the images' sizes.
    @discardableResult
    func chain(parents: Int, seed: UInt64, user: TestUser?, label: String, options: [String] = [],
               file: StaticString = #filePath, line: UInt = #line) throws -> [UInt64] {
        let work = env.workDir("incremental-\(label)", user: user)
        let (target, pid) = try Fixture.start(["\(env.bin)/incremental", "\(seed)", "\(work)/file.data"], user: user, cwd: work, file: file, line: line)
        let tool = "\(env.bin)/cr_checkpoint"
        let base = "\(work)/image.0"
        let pre = runTool([tool, "-p", "--pre-dump"] + options + ["-f", base, "\(pid)"], user: user, cwd: work)
        XCTAssertEqual(pre.code, 0, "pre-dump: \(pre.output)", file: file, line: line)
        guard pre.code == 0 else { return [] }
        var sizes = [Self.size(base)]
        for step in 1...parents {
            kill(pid, SIGUSR1)
            XCTAssertTrue(target.read(until: "STEP \(step)\n"), "fixture step \(step): \(target.output)", file: file, line: line)
            let image = "\(work)/image.\(step)"
            let last = step == parents
            let r = runTool([tool, "-p", "--parent", "\(work)/image.\(step - 1)", "-f", image] + options + (last ? ["--kill"] : []) + ["\(pid)"], user: user, cwd: work)
            XCTAssertEqual(r.code, 0, "incremental \(step): \(r.output)", file: file, line: line)
            guard r.code == 0 else { return sizes }
            sizes.append(Self.size(image))
        }
        XCTAssertEqual(target.wait(timeout: 10)?.signal, SIGKILL, file: file, line: line)
        reapOrphans()
        let restart = try Child(["\(env.bin)/cr_restart", "--verbose"] + (user == nil ? [] : ["--no-restore-pid"]) + ["\(work)/image.\(parents)"], user: user, cwd: work)
        XCTAssertTrue(restart.read(until: "restored"), "cr_restart: \(restart.output)", file: file, line: line)
        signalDescendants(of: restart.pid, SIGTERM)
        let output = restart.readToEnd(timeout: 60)
        XCTAssertTrue(output.contains("checked \(parents) steps") && output.contains("PASS"), "after restart (seed \(seed)): \(output)", file: file, line: line)
        XCTAssertEqual(restart.wait(timeout: 10)?.code, 0, output, file: file, line: line)
        return sizes
    }

    static func size(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }

    /// Chains of 1, 2 and 5 parents as root, seeded; the incremental images
    /// hold only what changed (far less than the pre-dump).
    func testChainsOfOneTwoAndFiveParentsAsRoot() throws {
        guard env.isRoot else { throw XCTSkip("root run") }
        let seed = TestEnvironment.seed(for: "incremental")
        for parents in [1, 2, 5] {
            let sizes = try chain(parents: parents, seed: seed &+ UInt64(parents), user: nil, label: "root\(parents)")
            guard sizes.count == parents + 1 else { continue }
            for s in sizes.dropFirst() { XCTAssertLessThan(s, sizes[0] / 2, "an incremental image is not smaller than half the pre-dump: \(sizes)") }
        }
    }

    /// The same as an unprivileged user (UFFD_USER_MODE_ONLY; new PIDs), plain and compressed.
    func testChainAsAUser() throws {
        guard let user = env.user else { throw XCTSkip("no unprivileged test user") }
        try chain(parents: 2, seed: TestEnvironment.seed(for: "incremental-user"), user: user, label: "user")
        try chain(parents: 2, seed: TestEnvironment.seed(for: "incremental-user-z"), user: user, label: "userz", options: ["--compress"])
    }

    /// A compressed chain (ZPAGES), levels 1 and 9, as root.
    func testCompressedChainsAsRoot() throws {
        guard env.isRoot else { throw XCTSkip("root run") }
        let seed = TestEnvironment.seed(for: "incremental-z")
        try chain(parents: 3, seed: seed, user: nil, label: "z1", options: ["--compress"])
        try chain(parents: 2, seed: seed &+ 1, user: nil, label: "z9", options: ["--compress=9"])
    }

    /// Threads, a process tree, and shared memory under pre-dump + incremental --kill.
    func testThreadsTreesAndSharedMemoryFromAPreDump() throws {
        guard env.isRoot else { throw XCTSkip("original TIDs need root") }
        let poke: @Sendable (Child) -> Void = { signalDescendants(of: $0.pid, SIGTERM) }
        let bin = env.bin
        func preDumped(_ s: Scenario, scope: [String]) -> Scenario {
            var t = s
            t.beforeCheckpoint = { pid, work, user in
                let base = "\(work)/pre.\(pid)"
                let r = runTool(["\(bin)/cr_checkpoint"] + scope + ["--pre-dump", "-f", base, "\(pid)"], user: user, cwd: work)
                XCTAssertEqual(r.code, 0, "pre-dump: \(r.output)")
                return ["--parent", base]
            }
            return t
        }
        var forked = Scenario(fixture: "tree", arguments: ["ids"], poke: poke)
        (forked.checkpointArguments, forked.restartArguments, forked.settle) = (["--tree"], ["--restore-pgid", "--restore-sid"], 400_000)
        var shmem = Scenario(fixture: "shmem", poke: poke)
        (shmem.checkpointArguments, shmem.settle) = (["--tree"], 300_000)
        try preDumped(Scenario(fixture: "threads", arguments: ["exact"]), scope: ["-p"]).run(.rootOriginalPID)
        try preDumped(Scenario(fixture: "memory", arguments: ["@/memory.data"]), scope: ["-p"]).run(.rootOriginalPID)
        try preDumped(forked, scope: ["--tree"]).run(.rootOriginalPID)
        try preDumped(shmem, scope: ["--tree"]).run(.rootOriginalPID)
    }

    /// An incremental checkpoint that lets its processes run on copies the
    /// written pages while they are frozen and writes them after they run
    /// again (StagingArea; a childless process's written pages are copied
    /// beside the collection, PrefetchedPages). Processes rewriting their
    /// memory without pause (one thread, two threads, a parent and a
    /// child; seeded sizes and orders), as root and as a user: restarted
    /// from the run-on incremental image, every page is of the generation
    /// the registers were at. Fails if the processes run before their pages
    /// are copied (checked by thawing them before the memory stage).
    func testRunOnIncrementalOfMemoryRewrittenWithoutPauseIsOneInstant() throws {
        let seed = TestEnvironment.seed(for: "rewriter")
        let users: [TestUser?] = (env.isRoot ? [nil] : []) + (env.user.map { [$0] } ?? [])
        for (k, mode) in ["single", "threads", "fork"].enumerated() {
            for user in users {
                let label = "\(mode)-\(user?.name ?? "root")"
                let work = env.workDir("incremental-rewriter-\(mode)", user: user)
                let (target, pid) = try Fixture.start(["\(env.bin)/rewriter", "\(seed &+ UInt64(k))", mode], user: user, cwd: work)
                let scope = mode == "fork" ? ["--tree"] : ["-p"]
                let tool = "\(env.bin)/cr_checkpoint"
                let pre = runTool([tool] + scope + ["--pre-dump", "-f", "\(work)/base", "\(pid)"], user: user, cwd: work)
                XCTAssertEqual(pre.code, 0, "\(label) pre-dump: \(pre.output)")
                usleep(100_000)
                let next = runTool([tool, "-v"] + scope + ["--parent", "\(work)/base", "-f", "\(work)/next", "\(pid)"], user: user, cwd: work)
                XCTAssertEqual(next.code, 0, "\(label) incremental: \(next.output)")
                XCTAssertTrue(next.output.contains(", staged "), "\(label): the pages were not staged: \(next.output)")
                if mode != "fork" {
                    XCTAssertTrue(next.output.contains("written pages copied beside the collection"), "\(label): \(next.output)")
                }
                signalDescendants(of: pid, SIGKILL)
                kill(pid, SIGKILL)
                _ = target.wait(timeout: 10)
                reapOrphans()
                guard pre.code == 0, next.code == 0 else { continue }
                let restart = try Child(["\(env.bin)/cr_restart", "--verbose"] + (user == nil ? [] : ["--no-restore-pid"]) + ["\(work)/next"], user: user, cwd: work)
                XCTAssertTrue(restart.read(until: "restored"), "\(label) cr_restart: \(restart.output)")
                usleep(300_000)
                signalDescendants(of: restart.pid, SIGTERM)
                let output = restart.readToEnd(timeout: 30)
                XCTAssertTrue(output.contains("PASS") && !output.contains("FAIL"), "\(label) after restart (seed \(seed)): \(output)")
                XCTAssertEqual(restart.wait(timeout: 10)?.code, 0, "\(label): \(output)")
                reapOrphans()
            }
        }
    }

    /// The tracking descriptor is in the process after a pre-dump, at a
    /// high number, and gone after --stop-tracking; the process runs on
    /// either way. A pre-dump is never restarted.
    func testTrackingLeavesWithStopTrackingAndPreDumpsAreNotRestarted() throws {
        let work = env.workDir("incremental-stop", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/incremental", "3", "\(work)/file.data"], user: nil, cwd: work)
        let tool = "\(env.bin)/cr_checkpoint"
        let pre = runTool([tool, "-p", "--pre-dump", "-f", "\(work)/base", "\(pid)"])
        XCTAssertEqual(pre.code, 0, pre.output)
        XCTAssertEqual(Self.userfaultfds(pid), 1, "no tracking descriptor after the pre-dump")
        let next = runTool([tool, "-p", "--parent", "\(work)/base", "--stop-tracking", "-f", "\(work)/next", "\(pid)"])
        XCTAssertEqual(next.code, 0, next.output)
        XCTAssertEqual(Self.userfaultfds(pid), 0, "the tracking descriptor stayed after --stop-tracking")
        kill(pid, SIGUSR1)
        XCTAssertTrue(target.read(until: "STEP 1\n"), "the process does not run on: \(target.output)")
        // Without tracking, the next incremental saves every page, with a warning, and is still whole.
        let again = runTool([tool, "-p", "--parent", "\(work)/next", "-f", "\(work)/again", "\(pid)"])
        XCTAssertEqual(again.code, 0, again.output)
        XCTAssertTrue(again.output.contains("every page is saved"), again.output)
        XCTAssertGreaterThan(Self.size("\(work)/again"), Self.size("\(work)/next") * 2)
        kill(pid, SIGTERM)
        XCTAssertTrue(target.readToEnd(timeout: 20).contains("PASS"), "the fixture itself: \(target.output)")
        let refused = runTool(["\(env.bin)/cr_restart", "\(work)/base"])
        XCTAssertNotEqual(refused.code, 0)
        XCTAssertTrue(refused.output.contains("is a pre-dump"), refused.output)
        XCTAssertEqual(refused.output.split(separator: "\n").count, 1, refused.output)
    }

    /// A pre-dump's image is never restarted: its TCP connections are not
    /// read in repair mode (a peer still sending made the pre-dump fail,
    /// zdtm --pre socket-tcpbuf6), and the checkpoint on top of it saves
    /// them whole: the connection comes back with its bytes.
    func testPreDumpLeavesTCPConnectionsAloneAsRoot() throws {
        guard env.isRoot else { throw XCTSkip("TCP_REPAIR needs root") }
        let bin = env.bin
        var s = Scenario(fixture: "tcp", arguments: ["repaired"])
        s.beforeCheckpoint = { pid, work, user in
            let base = "\(work)/pre.\(pid)"
            let r = runTool(["\(bin)/cr_checkpoint", "-p", "--pre-dump", "-f", base, "\(pid)"], user: user, cwd: work)
            XCTAssertEqual(r.code, 0, "pre-dump: \(r.output)")
            let json = runTool(["\(bin)/swiftcr", "inspect", "--json", base]).output
            XCTAssertEqual(json.components(separatedBy: "\"type\": \"tcp\"").count, 3, "two TCP ends in the pre-dump: \(json.prefix(2000))")
            XCTAssertEqual(json.components(separatedBy: "\"queues\": null").count, 3, "a pre-dump read a connection in repair mode")
            return ["--parent", base]
        }
        try s.run(.rootOriginalPID)
    }

    /// A pre-dump reads memory while its processes run: a child that ends
    /// meanwhile (forker's live 20 ms; the checkpointer is held 200 ms
    /// before it reads) is in no later checkpoint, so the pre-dump goes on
    /// without it, with a warning, instead of failing (zdtm --pre fork2).
    func testPreDumpsOfATreeWhoseChildrenEndMeanwhile() throws {
        let work = env.workDir("predump-forker", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/forker"], user: nil, cwd: work)
        // A pre-dump whose scope caught the child as a zombie, or between
        // two, has none that ends meanwhile (1 in 3 once on a loaded VM): one of three must.
        var outputs: [String] = []
        for k in 0..<3 {
            let parent = k == 0 ? [] : ["--parent", "\(work)/pre\(k - 1)"]
            let r = runTool(["/usr/bin/env", "SWIFTCR_TEST_CHECKPOINT_PAUSE=dump:200", "\(env.bin)/cr_checkpoint", "--tree", "--pre-dump"]
                            + parent + ["-f", "\(work)/pre\(k)", "\(pid)"], cwd: work)
            XCTAssertEqual(r.code, 0, "pre-dump \(k): \(r.output)")
            XCTAssertFalse(r.output.contains("could not be closed"), "pre-dump \(k): \(r.output)")
            outputs.append(r.output)
        }
        XCTAssertTrue(outputs.contains { $0.contains("exited during the pre-dump") }, "no child ended during a pre-dump: \(outputs)")
        kill(pid, SIGTERM)
        let out = target.readToEnd(timeout: 10)
        XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), out)
    }

    /// A missing, replaced or damaged parent is refused with one line that
    /// names it, and nothing is restored; --parent-dir finds a moved chain.
    func testBrokenChainsAreRefused() throws {
        guard env.isRoot else { throw XCTSkip("original PIDs need root") }
        let work = env.workDir("incremental-broken", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/incremental", "4", "\(work)/file.data"], user: nil, cwd: work)
        let tool = "\(env.bin)/cr_checkpoint"
        XCTAssertEqual(runTool([tool, "-p", "--pre-dump", "-f", "\(work)/base", "\(pid)"]).code, 0)
        kill(pid, SIGUSR1)
        XCTAssertTrue(target.read(until: "STEP 1\n"))
        let last = runTool([tool, "-p", "--parent", "\(work)/base", "--kill", "-f", "\(work)/last", "\(pid)"])
        XCTAssertEqual(last.code, 0, last.output)
        _ = target.wait(timeout: 10)
        reapOrphans()
        func refused(_ why: String, _ args: [String] = []) {
            let r = runTool(["\(env.bin)/cr_restart"] + args + ["\(work)/last"])
            XCTAssertNotEqual(r.code, 0, "restarted with a \(why) parent: \(r.output)")
            XCTAssertEqual(r.output.split(separator: "\n").count, 1, "\(why): \(r.output)")
            XCTAssertTrue(r.output.contains("base"), "\(why): the parent is not named: \(r.output)")
            XCTAssertEqual(kill(pid, 0), -1, "\(why): a process was restored")
        }
        // Missing; then found again in --parent-dir.
        mkdir("\(work)/moved", 0o755)
        XCTAssertEqual(rename("\(work)/base", "\(work)/moved/base"), 0)
        refused("missing")
        let found = try Child(["\(env.bin)/cr_restart", "--verbose", "--parent-dir", "\(work)/moved", "\(work)/last"])
        XCTAssertTrue(found.read(until: "restored"), found.output)
        kill(pid, SIGTERM)
        XCTAssertTrue(found.readToEnd(timeout: 30).contains("PASS"), found.output)
        _ = found.wait(timeout: 10)
        reapOrphans()
        // Damaged: a byte changed every 256 KiB (some section's checksum no longer holds).
        XCTAssertEqual(rename("\(work)/moved/base", "\(work)/base"), 0)
        let fd = open("\(work)/base", O_RDWR)
        var st = stat()
        fstat(fd, &st)
        for at in stride(from: off_t(64 << 10), to: off_t(st.st_size) - off_t(64 << 10), by: 256 << 10) {
            var byte: UInt8 = 0
            pread(fd, &byte, 1, at)
            byte ^= 0xff
            pwrite(fd, &byte, 1, at)
        }
        close(fd)
        refused("damaged")
        // Replaced: another pre-dump under the parent's name.
        let (other, otherPID) = try Fixture.start(["\(env.bin)/incremental", "4", "\(work)/other.data"], user: nil, cwd: work)
        unlink("\(work)/base")
        XCTAssertEqual(runTool([tool, "-p", "--pre-dump", "-f", "\(work)/base", "\(otherPID)"]).code, 0)
        kill(otherPID, SIGKILL)
        _ = other.wait(timeout: 5)
        refused("replaced")
    }

    /// Where writes cannot be tracked (a kernel before 6.7; here a test hook),
    /// a pre-dump still succeeds, says so with what `swiftcr check` finds,
    /// leaves nothing in the process, and the incremental after it saves
    /// every page and restarts whole.
    func testWithoutWriteTrackingIncrementalsFallBackToFullDumps() throws {
        guard env.isRoot else { throw XCTSkip("original PIDs need root") }
        let work = env.workDir("incremental-fallback", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/incremental", "6", "\(work)/file.data"], user: nil, cwd: work)
        let tool = "\(env.bin)/cr_checkpoint"
        let pre = runTool(["/usr/bin/env", "SWIFTCR_TEST_NO_WRITE_TRACKING=1", tool, "-p", "--pre-dump", "-f", "\(work)/base", "\(pid)"])
        XCTAssertEqual(pre.code, 0, pre.output)
        XCTAssertTrue(pre.output.contains("writes cannot be tracked") && pre.output.contains("swiftcr check: PAGEMAP_SCAN"), pre.output)
        XCTAssertEqual(Self.userfaultfds(pid), 0, "a tracking descriptor stayed without tracking")
        kill(pid, SIGUSR1)
        XCTAssertTrue(target.read(until: "STEP 1\n"))
        let last = try killingIncrementalRestarts(target, pid, work)
        XCTAssertTrue(last.contains("every page is saved"), last)
    }

    /// A pre-dump that fails after its process ran on (its image damaged
    /// before the read back) takes its tracking descriptor out again: the
    /// process is as before it, and a chain started afterwards works.
    func testFailedPreDumpLeavesNoTrackingDescriptor() throws {
        guard env.isRoot else { throw XCTSkip("original PIDs need root") }
        let work = env.workDir("incremental-failed-predump", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/incremental", "6", "\(work)/file.data"], user: nil, cwd: work)
        let tool = "\(env.bin)/cr_checkpoint"
        let failed = runTool(["/usr/bin/env", "SWIFTCR_TEST_DAMAGE_IMAGE=200", tool, "-p", "--pre-dump", "-f", "\(work)/base", "\(pid)"])
        XCTAssertNotEqual(failed.code, 0, "a damaged pre-dump was committed: \(failed.output)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(work)/base"), "a failed pre-dump left its image")
        XCTAssertEqual(Self.userfaultfds(pid), 0, "the failed pre-dump left its tracking descriptor in the process")
        // Pages changed after their checksum, caught by the check beside the memory dump (after the thaw): the same.
        let scribbled = runTool(["/usr/bin/env", "SWIFTCR_TEST_SCRIBBLE_PAGES=1", tool, "-p", "--pre-dump", "-f", "\(work)/base", "\(pid)"])
        XCTAssertEqual(scribbled.code, EIO, scribbled.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(work)/base"), "a scribbled pre-dump left its image")
        XCTAssertEqual(Self.userfaultfds(pid), 0, "the scribbled pre-dump left its tracking descriptor in the process")
        let pre = runTool([tool, "-p", "--pre-dump", "-f", "\(work)/base", "\(pid)"])
        XCTAssertEqual(pre.code, 0, pre.output)
        XCTAssertEqual(Self.userfaultfds(pid), 1, "no tracking descriptor after the pre-dump")
        kill(pid, SIGUSR1)
        XCTAssertTrue(target.read(until: "STEP 1\n"))
        let last = try killingIncrementalRestarts(target, pid, work)
        XCTAssertFalse(last.contains("every page is saved"), "the chain after the failed pre-dump did not track writes: \(last)")
    }

    /// A program with its own asynchronous write protection: the pre-dump
    /// does not track it (warned), takes nothing of its tracking, and leaves
    /// only the program's userfaultfd; the program still sees the page it wrote.
    func testProgramsOwnWriteTrackingIsLeftAlone() throws {
        let work = env.workDir("incremental-ownuffd", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/ownuffd"], user: nil, cwd: work)
        guard pid != 0 else { throw XCTSkip("no asynchronous userfaultfd write protection on this kernel") }
        let pre = runTool(["\(env.bin)/cr_checkpoint", "-p", "--pre-dump", "-f", "\(work)/base", "\(pid)"])
        XCTAssertEqual(pre.code, 0, pre.output)
        XCTAssertTrue(pre.output.contains("uses userfaultfd itself") && pre.output.contains("writes cannot be tracked"), pre.output)
        XCTAssertEqual(Self.userfaultfds(pid), 1, "a tracking descriptor was added to the program's own")
        kill(pid, SIGTERM)
        let output = target.readToEnd(timeout: 10)
        XCTAssertTrue(output.contains("PASS") && !output.contains("FAIL"), output)
        _ = target.wait(timeout: 10)
    }

    /// A program that starts its own asynchronous write protection after
    /// the pre-dump, in a new mapping: the incremental checkpoint does not
    /// take it for tracked memory (its protected pages are in no parent)
    /// and saves it whole; the restarted program finds its bytes.
    func testProgramsLateWriteTrackingIsSavedWhole() throws {
        guard env.isRoot else { throw XCTSkip("original PIDs need root") }
        let work = env.workDir("incremental-ownuffd-late", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/ownuffd", "late"], user: nil, cwd: work)
        guard pid != 0 else { throw XCTSkip("no asynchronous userfaultfd write protection on this kernel") }
        let pre = runTool(["\(env.bin)/cr_checkpoint", "-p", "--pre-dump", "-f", "\(work)/base", "\(pid)"])
        XCTAssertEqual(pre.code, 0, pre.output)
        kill(pid, SIGUSR1)
        XCTAssertTrue(target.read(until: "STEP 1\n"), target.output)
        _ = try killingIncrementalRestarts(target, pid, work)
    }

    /// The chain's last checkpoint (`--parent WORK/base --kill`), then
    /// cr_restart of it, which must print PASS; the checkpoint's output.
    private func killingIncrementalRestarts(_ target: Child, _ pid: pid_t, _ work: String,
                                            file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let last = runTool(["\(env.bin)/cr_checkpoint", "-p", "--parent", "\(work)/base", "--kill", "-f", "\(work)/last", "\(pid)"])
        XCTAssertEqual(last.code, 0, last.output, file: file, line: line)
        _ = target.wait(timeout: 10)
        reapOrphans()
        let restart = try Child(["\(env.bin)/cr_restart", "--verbose", "\(work)/last"])
        XCTAssertTrue(restart.read(until: "restored"), restart.output, file: file, line: line)
        kill(pid, SIGTERM)
        XCTAssertTrue(restart.readToEnd(timeout: 30).contains("PASS"), restart.output, file: file, line: line)
        _ = restart.wait(timeout: 10)
        return last.output
    }

    /// A compressed incremental image goes from `cr_checkpoint -f -` to
    /// `cr_restart -f -` through a pipe, and through a TCP connection between
    /// two network namespaces; its parent is found by its recorded path.
    func testIncrementalImagesStreamThroughAPipeAndTCPBetweenNamespaces() throws {
        guard env.isRoot else { throw XCTSkip("network namespaces need root") }
        let bin = env.bin
        func streamed(_ label: String, _ pipeline: (pid_t, String) throws -> Child, after: () -> Void = {}) throws {
            let work = env.workDir("incremental-stream-\(label)", user: nil)
            let (target, pid) = try Fixture.start(["\(bin)/incremental", "8", "\(work)/file.data"], user: nil, cwd: work)
            XCTAssertEqual(runTool(["\(bin)/cr_checkpoint", "-p", "--pre-dump", "-f", "\(work)/base", "\(pid)"]).code, 0)
            kill(pid, SIGUSR1)
            XCTAssertTrue(target.read(until: "STEP 1\n"))
            let receiver = try pipeline(pid, work)
            XCTAssertTrue(receiver.read(until: "restored"), "\(label): \(receiver.output)")
            XCTAssertEqual(target.wait(timeout: 10)?.signal, SIGKILL)
            signalDescendants(of: receiver.pid, SIGTERM)
            let output = receiver.readToEnd(timeout: 30)
            XCTAssertTrue(output.contains("checked 1 steps") && output.contains("PASS"), "\(label): \(output)")
            _ = receiver.wait(timeout: 10)
            after()
            reapOrphans()
        }
        let restart = "\(bin)/cr_restart -f - --no-restore-pid --verbose"
        try streamed("pipe") { pid, work in
            try Child(["/bin/sh", "-c", "\(bin)/cr_checkpoint -p --parent \(work)/base --compress --kill -f - \(pid) | \(restart)"], cwd: work)
        }
        let ns = ["swiftcr-send", "swiftcr-recv"]
        for n in ns { runTool(["/usr/sbin/ip", "netns", "del", n]) }
        defer { for n in ns { runTool(["/usr/sbin/ip", "netns", "del", n]) } }
        for command in ["netns add swiftcr-send", "netns add swiftcr-recv",
                        "link add swcr-a netns swiftcr-send type veth peer name swcr-b netns swiftcr-recv",
                        "-n swiftcr-send addr add 10.77.0.1/24 dev swcr-a", "-n swiftcr-recv addr add 10.77.0.2/24 dev swcr-b",
                        "-n swiftcr-send link set swcr-a up", "-n swiftcr-recv link set swcr-b up", "-n swiftcr-recv link set lo up"] {
            let r = runTool(["/usr/sbin/ip"] + command.split(separator: " ").map(String.init))
            guard r.code == 0 else { throw XCTSkip("ip \(command): \(r.output)") }
        }
        try streamed("tcp") { pid, work in
            let receiver = try Child(["/usr/sbin/ip", "netns", "exec", "swiftcr-recv", "/bin/sh", "-c",
                                      "\(bin)/streamcopy listen 10.77.0.2 9477 | \(restart)"], cwd: work)
            XCTAssertTrue(receiver.read(until: "LISTENING"), receiver.output)
            let send = runTool(["/bin/sh", "-c", "\(bin)/cr_checkpoint -p --parent \(work)/base --compress=3 --kill -f - \(pid) | /usr/sbin/ip netns exec swiftcr-send \(bin)/streamcopy send 10.77.0.2 9477"], cwd: work)
            XCTAssertEqual(send.code, 0, send.output)
            return receiver
        }
    }

    static func userfaultfds(_ pid: pid_t) -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == "anon_inode:[userfaultfd]" }.count
    }
}
