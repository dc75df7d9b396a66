import Glibc
import XCTest

/// swiftcr-job under a real Slurm (scripts/slurm-check.sh): a one-node
/// cluster from Debian's packages, one job and an array of 4 at once, each
/// checkpointed, requeued and restarted at least twice by its time limit,
/// each ending with the result of an uninterrupted run. Jobs run as the
/// test user. About 3 minutes.
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
        XCTAssertTrue(r.output.contains("\n5 passed, 0 failed"), r.output)
        // Nothing of the cluster is left running.
        for name in ["slurmctld", "slurmd", "munged"] {
            let left = runTool(["/usr/bin/pgrep", "-f", "\(name) .*\(work)"]).output
            XCTAssertEqual(left, "", "\(name) still runs")
        }
    }
}
