import Glibc
import XCTest

/// swiftcr-job under a real Slurm (scripts/slurm-check.sh): a one-node
/// cluster from Debian's packages, one job and an array of 4 at once, each
/// checkpointed, requeued and restarted at least twice by its time limit,
/// each ending with the result of an uninterrupted run; then a job that
/// fills the node, preempted by an urgent one, checkpointed on the signal
/// Slurm sends at preemption and restarted after it. Jobs run as the test
/// user. About 3 minutes.
final class SlurmJobTests: XCTestCase {
    func testRequeuedJobsEndWithTheUninterruptedResult() throws {
        let env = try TestEnvironment.get()
        guard env.isRoot else { throw XCTSkip("starts Slurm's daemons: needs root") }
        for daemon in ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged"] where access(daemon, X_OK) != 0 {
            throw XCTSkip("\(daemon) is missing (scripts/setup.sh installs slurmctld, slurmd and munge)")
        }
        let work = "\(env.dir)/slurm"
        let r = runTool(["/bin/bash", "\(TestEnvironment.repoRoot)/scripts/slurm-check.sh", "--user", env.user?.name ?? "root", env.bin, work],
                        timeout: 720)
        reapOrphans()
        XCTAssertEqual(r.code, 0, r.output)
        XCTAssertTrue(r.output.contains("\n7 passed, 0 failed"), r.output)
        // Nothing of the cluster is left running.
        for name in ["slurmctld", "slurmd", "munged"] {
            let left = runTool(["/usr/bin/pgrep", "-f", "\(name) .*\(work)"]).output
            XCTAssertEqual(left, "", "\(name) still runs")
        }
    }
}

/// swiftcr-job on its own (no batch system: --no-requeue), as root and as a
/// user: each warning signal commits an image and exits 75, each run after
/// restarts from it, the last ends with the uninterrupted result and sets
/// the image aside; an image that cannot be restarted is kept.
final class SwiftcrJobTests: XCTestCase {
    func testSignalCheckpointsAndTheNextRunGoesOnAsRootAndUser() throws {
        let env = try TestEnvironment.get()
        let job = "\(TestEnvironment.repoRoot)/scripts/swiftcr-job"
        let expected = runTool(["\(env.bin)/batchwork", "300", "0"]).output.split(separator: "\n").last.map(String.init) ?? "?"
        for user in [nil, env.user] {
            let who = user?.name ?? "root"
            let work = env.workDir("swiftcr-job", user: user)
            let argv = ["/bin/bash", job, "--bin", env.bin, "--no-requeue", "--dir", "\(work)/ckpt", "--", "\(env.bin)/batchwork", "300", "10"]
            for (round, mark) in ["starting", "restarting"].enumerated() {
                let run = try Child(argv, user: user, cwd: work)
                XCTAssertTrue(run.read(until: mark), "\(who) run \(round): \(run.output)")
                usleep(700_000)
                kill(run.pid, SIGUSR1)
                let out = run.readToEnd(timeout: 30)
                XCTAssertEqual(run.wait(timeout: 10)?.code, 75, "\(who) run \(round): \(out)")
                XCTAssertTrue(out.contains("checkpoint committed"), "\(who) run \(round): \(out)")
                XCTAssertEqual(access("\(work)/ckpt/context", F_OK), 0, "\(who) run \(round): no image")
                XCTAssertNotEqual(access("\(work)/ckpt/context.next", F_OK), 0, "\(who) run \(round): context.next left")
                reapOrphans()
            }
            let last = runTool(argv, user: user, cwd: work, timeout: 60)
            XCTAssertEqual(last.code, 0, "\(who): \(last.output)")
            XCTAssertTrue(last.output.contains(expected), "\(who): want \(expected): \(last.output)")
            XCTAssertEqual(access("\(work)/ckpt/context.done", F_OK), 0, "\(who): image not set aside")
            XCTAssertNotEqual(access("\(work)/ckpt/context", F_OK), 0, "\(who): image left for the next job")
            // An image that cannot be restarted is kept, and the job fails.
            let damaged = "\(work)/ckpt/context"
            XCTAssertTrue(FileManager.default.createFile(atPath: damaged, contents: Data(repeating: 0x5a, count: 4096)))
            if let u = user { chown(damaged, u.uid, u.gid) }
            let refused = runTool(argv, user: user, cwd: work, timeout: 60)
            XCTAssertEqual(refused.code, 1, "\(who): \(refused.output)")
            XCTAssertTrue(refused.output.contains("the image is kept"), "\(who): \(refused.output)")
            XCTAssertEqual(access(damaged, F_OK), 0, "\(who): the damaged image is gone")
        }
    }
}
