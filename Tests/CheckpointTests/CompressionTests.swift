import Foundation
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

    /// The same process saved plain and compressed: the compressed image is
    /// smaller, passes verify, shows the same bytes through inspect --pages,
    /// and swiftcr diff finds no difference.
    func testCompressedImageHoldsTheSamePages() throws {
        let work = env.workDir("compress-same", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/memory", "\(work)/memory.data"], user: nil, cwd: work)
        defer { kill(pid, SIGKILL); _ = target.wait(timeout: 5) }
        let tool = "\(env.bin)/cr_checkpoint"
        // Stopped after the first, so both see the same memory.
        XCTAssertEqual(runTool([tool, "-p", "--stop", "-f", "\(work)/plain", "\(pid)"]).code, 0)
        let z = runTool([tool, "-p", "--compress", "-f", "\(work)/packed", "\(pid)"])
        XCTAssertEqual(z.code, 0, z.output)
        XCTAssertEqual(runTool(["\(env.bin)/swiftcr", "verify", "\(work)/packed"]).code, 0)
        let json = runTool(["\(env.bin)/swiftcr", "inspect", "--json", "\(work)/plain"])
        guard let data = json.output.data(using: .utf8), let doc = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let process = (doc["processes"] as? [[String: Any]])?.first, let maps = process["mappings"] as? [[String: Any]] else {
            return XCTFail("inspect --json: \(json.output.prefix(300))")
        }
        let saved = maps.filter { ($0["savedPages"] as? Int ?? 0) > 0 }
        XCTAssertFalse(saved.isEmpty)
        for m in saved.prefix(6) {
            guard let start = m["start"] as? Int else { continue }
            let args = ["--pages", "0x" + String(start, radix: 16), "65536"]
            let a = runTool(["\(env.bin)/swiftcr", "inspect", "\(work)/plain"] + args), b = runTool(["\(env.bin)/swiftcr", "inspect", "\(work)/packed"] + args)
            XCTAssertEqual(a.code, 0, a.output)
            XCTAssertEqual(a.output, b.output, "mapping 0x\(String(start, radix: 16)) reads differently compressed")
        }
        // Page by page through the INDEX (a ZPAGES section decompressed once for its pages).
        // (Registers may differ: the second checkpoint finds the process group-stopped.)
        let diff = runTool(["\(env.bin)/swiftcr", "diff", "\(work)/plain", "\(work)/packed"])
        let pageLines = diff.output.split(separator: "\n").filter { $0.contains("page(s)") }
        XCTAssertTrue(pageLines.isEmpty, diff.output)
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
