import Glibc
import LinuxKit
import XCTest

/// Real programs, not fixtures (scripts/programs-check.sh): Python with a
/// multiprocessing pool and SQLite, Python in a sandbox of its own
/// (unshare -Urnum: root in its user namespace, an echo server, a tmpfs of
/// its own), Python in bubblewrap (as root), Node.js worker threads and a child on
/// pipes, Java virtual threads, a Rust echo server, a Go program (goroutines,
/// the garbage collector), Redis with its client's connection, nginx's master
/// reloading its workers (SIGHUP) after the restart, vim in tmux on the
/// tree's own terminal, a PostgreSQL server serving new connections and
/// shutting down cleanly, an OpenSSH session whose client and server each
/// come back in turn (as root), a D-Bus session bus still answering new
/// clients after its client outside the checkpoint came back ended, a tar|gzip pipeline whose archive must unpack
/// identical. Each goes on with its own checks passing after a --kill
/// checkpoint and restart, as root and as the test user, restarted eagerly
/// and with --lazy (pages on fault through userfaultfd), and after three
/// checkpoints that let them run on (--live, as root). A runtime that is
/// not installed is skipped by the script (and named); none may fail.
final class RealProgramsTests: XCTestCase {
    func testRealProgramsGoOnAsRootAndUser() throws {
        let env = try TestEnvironment.get()
        guard env.isRoot else { throw XCTSkip("runs programs as root and as the test user: needs root") }
        let script = "\(TestEnvironment.repoRoot)/scripts/programs-check.sh"
        // The runner is a subreaper for the other tests, and would hold the
        // killed programs' children as zombies (their PIDs taken): init reaps them here.
        _ = Syscall.prctl(.setChildSubreaper, 0)
        defer { _ = Syscall.prctl(.setChildSubreaper, 1) }
        for mode in [[], ["--user"], ["--lazy"], ["--user", "--lazy"], ["--live"]] {
            let r = runTool(["/usr/bin/env", "SWIFTCR_BIN=\(env.bin)", "/bin/bash", script] + mode, timeout: 300)
            reapOrphans()
            XCTAssertEqual(r.code, 0, "\(mode): \(r.output)")
            XCTAssertTrue(r.output.contains(" passed, 0 failed") && !r.output.contains("FAIL"), "\(mode): \(r.output)")
            XCTAssertTrue(r.output.contains("PASS tar|gzip") && r.output.contains("PASS python"), "\(mode): \(r.output)")
            // A sandbox (unshare -Urnu): it came back outside its user namespace before 2026-12-06, not root there.
            XCTAssertTrue(r.output.contains("PASS python-userns"), "\(mode): \(r.output)")
            // A bubblewrap sandbox (as root; installed by scripts/setup.sh): its proc on /proc and a bind
            // under its tmpfs /tmp came back wrong, and it came back outside its user namespace, before 2026-12-06 evening.
            if !mode.contains("--user") { XCTAssertTrue(r.output.contains("PASS python-bwrap"), "\(mode): \(r.output)") }
            // Installed by scripts/setup.sh: Go's runtime broke restarts three ways (stacks in its heap, all signals caught, split heap mappings).
            XCTAssertTrue(r.output.contains("PASS go"), "\(mode): \(r.output)")
            // Installed by scripts/setup.sh: a server with its client's connection, and a master reloading its workers after the restart.
            XCTAssertTrue(r.output.contains("PASS redis") && r.output.contains("PASS nginx"), "\(mode): \(r.output)")
            // Installed by scripts/setup.sh since 2026-12-07: memcached's worker threads and a client; the BEAM's schedulers and a ring of processes.
            XCTAssertTrue(r.output.contains("PASS memcached") && r.output.contains("PASS erlang"), "\(mode): \(r.output)")
            // Since 2026-12-07: a D-Bus session bus whose client outside the checkpoint comes back ended.
            XCTAssertTrue(r.output.contains("PASS dbus"), "\(mode): \(r.output)")
            // Installed by scripts/setup.sh since 2026-12-08: a GNU screen session, another one on its freed terminal index meanwhile.
            XCTAssertTrue(r.output.contains("PASS screen"), "\(mode): \(r.output)")
            // openssh-server is installed by scripts/setup.sh (the VO module's ssh logins): both TCP ends of a session, as root.
            if !mode.contains("--user") { XCTAssertTrue(r.output.contains("PASS ssh"), "\(mode): \(r.output)") }
        }
    }
}
