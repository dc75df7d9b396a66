import Glibc
import XCTest

/// One zdtm-style round trip: start a fixture, checkpoint it with --kill,
/// restart it, poke it, and require that it prints PASS and exits 0.
struct Scenario: Sendable {
    var fixture: String
    /// Arguments; "@" is replaced by the scenario's work directory.
    var arguments: [String] = []
    /// What the test does to the restarted process (default: SIGTERM via cr_restart).
    var poke: @Sendable (Child) -> Void = { kill($0.pid, SIGTERM) }
    /// Runs the fixture through this (e.g. cr_run); it must exec in place, keeping the PID.
    var launcher: [String] = []
    /// Text the restarted process must also print.
    var expectOutput: String?
    /// Text that must not appear in cr_restart's output.
    var rejectOutput: String?
    /// cr_restart runs with --verbose (its -v lines are then in the output).
    var verbose = true
    /// Runs before the --kill checkpoint, given the target's PID, the work
    /// directory and the user; returns more cr_checkpoint arguments (a
    /// pre-dump, then --parent).
    var beforeCheckpoint: @Sendable (pid_t, String, TestUser?) -> [String] = { _, _, _ in [] }
    /// Runs between checkpoint and restart, given the work directory.
    var betweenRuns: @Sendable (String) -> Void = { _ in }
    /// Time the fixture gets after READY to reach the state to checkpoint.
    var settle: useconds_t = 200_000
    /// Scope and other cr_checkpoint options (a single process by default).
    var checkpointArguments = ["-p"]
    /// Restart options; "@WORK" is replaced by the work directory.
    var restartArguments: [String] = []
    /// NAME=VALUE settings for cr_restart (test hooks).
    var restartEnvironment: [String] = []
    /// The target is a PID namespace's init: it comes back with a new PID as
    /// seen from here (its PID inside is checked by the fixture).
    var newRootPID = false

    /// As root with original PIDs; as an unprivileged user with new PIDs
    /// (--no-restore-pid), or with original PIDs in a new user+PID namespace;
    /// or a user's process checkpointed and restarted by root (an
    /// administrator's restart, which BLCR allows), with original PIDs.
    enum Mode { case rootOriginalPID, unprivilegedNewPID, unprivilegedNamespace, rootForUser }

    func run(_ mode: Mode, file: StaticString = #filePath, line: UInt = #line) throws {
        let env = try TestEnvironment.get()
        let user: TestUser?
        switch mode {
        case .rootOriginalPID:
            guard env.isRoot else { throw XCTSkip("restoring the original PID needs root") }
            user = nil
        case .unprivilegedNewPID, .unprivilegedNamespace, .rootForUser:
            guard mode != .rootForUser || env.isRoot else { throw XCTSkip("restoring another user's process needs root") }
            guard let u = env.user else { throw XCTSkip("no unprivileged test user (tests not run as root)") }
            user = u
        }
        let label = ([fixture] + arguments.filter { $0.allSatisfy { $0.isLetter } } + (mode == .rootForUser ? ["by-root"] : [])).joined(separator: "-")
        let work = env.workDir(label, user: user)
        let argv = launcher + ["\(env.bin)/\(fixture)"] + arguments.map { $0.hasPrefix("@") ? work + $0.dropFirst() : $0 }
        let (target, pid) = try Fixture.start(argv, user: user, cwd: work, file: file, line: line)
        usleep(settle)
        let image = "\(work)/context.\(pid)"
        // Who runs cr_checkpoint and cr_restart.
        let toolUser = mode == .rootForUser ? nil : user
        let more = beforeCheckpoint(pid, work, toolUser)
        let tree = descendants(of: pid)
        let ck = runTool(["\(env.bin)/cr_checkpoint"] + checkpointArguments + more + ["--kill", "-f", image, "\(pid)"], user: toolUser, cwd: work)
        XCTAssertEqual(ck.code, 0, "cr_checkpoint: \(ck.output)", file: file, line: line)
        let ended = target.wait(timeout: 10)
        XCTAssertEqual(ended?.signal, SIGKILL, "--kill did not kill the target: \(String(describing: ended))", file: file, line: line)
        reapOrphans()
        // The killed tree's orphans are init's to reap, which this VM's is slow
        // to do: the restart's own wait for their PIDs (5 s) is not the test's subject.
        waitGone(tree)
        guard ck.code == 0 else { return }
        betweenRuns(work)

        let restorePID = mode != .unprivilegedNewPID
        let restart = try Child((restartEnvironment.isEmpty ? [] : ["/usr/bin/env"] + restartEnvironment) + ["\(env.bin)/cr_restart"] + (verbose ? ["--verbose"] : []) + (restorePID ? [] : ["--no-restore-pid"]) + restartArguments.map { $0.replacingOccurrences(of: "@WORK", with: work) } + [image],
                                user: toolUser, cwd: work)
        // Without -v there is no "restored ... as pid" line: wait for the original PID to run untraced.
        XCTAssertTrue(verbose ? restart.read(until: "restored") : processRunsUntraced(pid), "cr_restart: \(restart.output)", file: file, line: line)
        if mode == .rootOriginalPID || mode == .rootForUser, verbose && !newRootPID {
            XCTAssertTrue(restart.output.contains("as pid \(pid) "), "original PID not restored: \(restart.output)", file: file, line: line)
        }
        if mode == .unprivilegedNamespace {
            XCTAssertTrue(restart.output.contains("new user and PID namespace"), "no namespace: \(restart.output)", file: file, line: line)
        }
        poke(restart)
        let output = restart.readToEnd(timeout: 60)
        let status = restart.wait(timeout: 10)
        XCTAssertTrue(output.contains("PASS"), "\(fixture) after restart: \(output)", file: file, line: line)
        XCTAssertFalse(output.contains("FAIL"), "\(fixture) after restart: \(output)", file: file, line: line)
        if let want = expectOutput { XCTAssertTrue(output.contains(want), "\(fixture) should print \(want): \(output)", file: file, line: line) }
        if let unwanted = rejectOutput { XCTAssertFalse(output.contains(unwanted), "\(fixture) should not print \(unwanted): \(output)", file: file, line: line) }
        XCTAssertEqual(status?.code, 0, "cr_restart exit: \(String(describing: status)) \(output)", file: file, line: line)
    }
}

extension Scenario {
    /// `fixture`, checkpointed once without --kill (it runs on) before the
    /// checkpoint it is restarted from: what a checkpoint changes in a live
    /// target shows in the fixture's checks too.
    /// `warning`: what that first checkpoint must print.
    static func liveFirst(_ fixture: String, _ arguments: [String] = [], bin: String, scope: [String] = ["-p"], warning: String? = nil) -> Scenario {
        var s = Scenario(fixture: fixture, arguments: arguments)
        s.checkpointArguments = scope
        s.beforeCheckpoint = { pid, work, user in
            let r = runTool(["\(bin)/cr_checkpoint"] + scope + ["-f", "\(work)/live.\(pid)", "\(pid)"], user: user, cwd: work)
            XCTAssertEqual(r.code, 0, "checkpoint without --kill: \(r.output)")
            if let warning { XCTAssertTrue(r.output.contains(warning), "the checkpoint without --kill should warn \(warning): \(r.output)") }
            usleep(100_000)
            return []
        }
        return s
    }
}

/// Starting a fixture and learning its PID from its READY line.
enum Fixture {
    /// Starts a fixture as root, checkpoints it with --kill, and returns the image path and the old PID.
    static func image(of argv: [String], in work: String, bin: String,
                      file: StaticString = #filePath, line: UInt = #line) throws -> (String, pid_t) {
        let (target, pid) = try start(argv, user: nil, cwd: work, file: file, line: line)
        usleep(100_000)
        let path = "\(work)/context.\(pid)"
        let r = runTool(["\(bin)/cr_checkpoint", "-p", "--kill", "-f", path, "\(pid)"])
        XCTAssertEqual(r.code, 0, r.output, file: file, line: line)
        _ = target.wait(timeout: 5)
        return (path, pid)
    }

    static func start(_ argv: [String], user: TestUser?, cwd: String,
                      file: StaticString = #filePath, line: UInt = #line) throws -> (Child, pid_t) {
        let target = try Child(argv, user: user, cwd: cwd)
        XCTAssertTrue(target.read(until: "READY"), "\(argv[0]) did not start: \(target.output)", file: file, line: line)
        guard let pid = target.output.split(separator: "\n").first(where: { $0.hasPrefix("READY") })
            .flatMap({ Int32($0.split(separator: " ").last ?? "") }) else {
            throw TestFailure("no PID in '\(target.output)'")
        }
        return (target, pid)
    }
}

/// The processes whose parent is `parent`, from /proc.
func childProcesses(of parent: pid_t) -> [pid_t] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }.filter { p in
        guard let stat = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 && pid_t(fields[1]) == parent
    }
}

/// The program cr_restart brought back (its child other than the PID
/// namespace's reaper, swiftcr-init), once no longer traced: nil after
/// `timeout` seconds.
func restoredProgram(under restorer: pid_t, timeout: Double = 20) -> pid_t? {
    let deadline = now() + timeout
    while now() < deadline {
        for p in childProcesses(of: restorer) {
            let comm = (try? String(contentsOfFile: "/proc/\(p)/comm", encoding: .utf8)) ?? ""
            let status = (try? String(contentsOfFile: "/proc/\(p)/status", encoding: .utf8)) ?? ""
            if comm != "swiftcr-init\n" && status.contains("TracerPid:\t0\n") { return p }
        }
        usleep(20_000)
    }
    return nil
}

/// Sends a signal to every descendant of a process (the restored tree under cr_restart).
func signalDescendants(of root: pid_t, _ signal: Int32) {
    var parents: [pid_t: pid_t] = [:]
    if let dir = opendir("/proc") {
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let p = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let ppid = pid_t(fields[1]) { parents[p] = ppid }
        }
        closedir(dir)
    }
    var frontier = [root]
    while let p = frontier.popLast() {
        for (child, parent) in parents where parent == p {
            kill(child, signal)
            frontier.append(child)
        }
    }
}

/// Reaps the killed tree's orphans (we are their subreaper) until none is left.
func reapOrphans() {
    var quiet = 0
    while quiet < 20 {
        var status: Int32 = 0
        if waitpid(-1, &status, WNOHANG) > 0 { quiet = 0 } else { quiet += 1; usleep(5000) }
    }
}

/// The processes below `pid` now (children files, every thread's).
func descendants(of pid: pid_t) -> [pid_t] {
    var found: [pid_t] = []
    var queue = [pid]
    while let p = queue.popLast() {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(p)/task")) ?? []
        for t in tasks {
            let text = (try? String(contentsOfFile: "/proc/\(p)/task/\(t)/children", encoding: .utf8)) ?? ""
            for c in text.split(separator: " ").compactMap({ pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) where !found.contains(c) {
                found.append(c)
                queue.append(c)
            }
        }
    }
    return found
}

/// Up to 30 s for every one of `pids` that died (a zombie, exiting, or
/// SIGKILL pending) to be gone from /proc (reaped); one left running
/// (outside the checkpoint's scope) is not waited for.
func waitGone(_ pids: [pid_t]) {
    func dying(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 6 else { return false }
        // State Z or X, or PF_EXITING (0x4) in the flags: between SIGKILL and the zombie.
        if fields[0] == "Z" || fields[0] == "X" || (UInt64(fields[6]) ?? 0) & 0x4 != 0 { return true }
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        let pending = status.split(separator: "\n").filter { $0.hasPrefix("SigPnd:") || $0.hasPrefix("ShdPnd:") }
            .compactMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }
        return pending.contains { $0 & (1 << UInt64(SIGKILL - 1)) != 0 }
    }
    for _ in 0..<600 where pids.contains(where: dying) { usleep(50_000) }
}

/// Up to 20 s for `pid` to exist and have no tracer (a restart of it is done).
func processRunsUntraced(_ pid: pid_t) -> Bool {
    for _ in 0..<400 {
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
           status.contains("\nTracerPid:\t0\n"), !status.contains("State:\tt") { return true }
        usleep(50_000)
    }
    return false
}
