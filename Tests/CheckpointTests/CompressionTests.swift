import Glibc
import XCTest

/// cr_checkpoint --compress (issue 17): page data as zstd frames (ZPAGES).
final class CompressionTests: XCTestCase {
    var env: TestEnvironment!

    override func setUpWithError() throws { env = try TestEnvironment.get() }

    /// Memory, threads and a tree come back from compressed images, eager
    /// and lazy, as root and as a user.
    func testFixturesComeBackFromCompressedImages() throws {
        let poke: @Sendable (Child) -> Void = { signalDescendants(of: $0.pid, SIGTERM) }
        var memory = Scenario(fixture: "memory", arguments: ["@/memory.data"])
        memory.checkpointArguments = ["-p", "--compress"]
        var threads = Scenario(fixture: "threads", arguments: [env.isRoot ? "exact" : "newtid"])
        threads.checkpointArguments = ["-p", "--compress=5"]
        var tree = Scenario(fixture: "tree", arguments: ["plain"], poke: poke)
        (tree.checkpointArguments, tree.settle) = (["--tree", "--compress"], 400_000)
        var lazy = Scenario(fixture: "lazytouch", arguments: ["64", "5"])
        (lazy.checkpointArguments, lazy.restartArguments, lazy.settle) = (["-p", "--compress"], ["--lazy"], 500_000)
        if env.isRoot {
            for s in [memory, threads, tree, lazy] { try s.run(.rootOriginalPID) }
        }
        if env.user != nil {
            for s in [memory, tree] { try s.run(.unprivilegedNewPID) }
        }
    }

    /// The same stopped process saved plain and compressed: the compressed
    /// image is smaller, passes verify, and swiftcr diff finds the same pages.
    func testCompressedImageHoldsTheSamePages() throws {
        let work = env.workDir("compress-same", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/memory", "\(work)/memory.data"], user: nil, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        let tool = "\(env.bin)/cr_checkpoint"
        // Stopped throughout, so both see the same memory (a running process's
        // rseq area changes whenever it is scheduled).
        kill(pid, SIGSTOP)
        for _ in 0..<200 where (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") T ") != true { usleep(10_000) }
        XCTAssertEqual(runTool([tool, "-p", "-f", "\(work)/plain", "\(pid)"]).code, 0)
        let z = runTool([tool, "-p", "--compress", "-f", "\(work)/packed", "\(pid)"])
        XCTAssertEqual(z.code, 0, z.output)
        XCTAssertEqual(runTool(["\(env.bin)/swiftcr", "verify", "\(work)/packed"]).code, 0)
        // Page by page through the INDEX (a ZPAGES section decompressed once for
        // its pages): the same, but for the one page the first checkpoint's own
        // injection frame changed below a thread's stack pointer.
        let diff = runTool(["\(env.bin)/swiftcr", "diff", "\(work)/plain", "\(work)/packed"])
        let changed = diff.output.split(separator: "\n").compactMap { line -> Int? in
            guard let r = line.range(of: " page(s) changed") else { return nil }
            return Int(line[..<r.lowerBound].split(separator: " ").last ?? "")
        }
        XCTAssertLessThanOrEqual(changed.reduce(0, +), 1, diff.output)
        var a = stat(), b = stat()
        stat("\(work)/plain", &a)
        stat("\(work)/packed", &b)
        XCTAssertLessThan(b.st_size, a.st_size, "the compressed image is not smaller")
    }

    func testCompressionLevelIsChecked() {
        let r = runTool(["\(env.bin)/cr_checkpoint", "--compress=99", "1"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.output.contains("--compress"), r.output)
    }
}
