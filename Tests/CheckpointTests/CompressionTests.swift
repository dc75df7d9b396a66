import CheckpointImage
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

    /// An eager restore decompresses frames on worker threads that write the
    /// pages as they come out. A frame damaged under a valid CRC (a writer
    /// bug, not the disk) in the middle of the image must still fail the
    /// restart with one line naming the image, and leave no process behind.
    func testAFrameDamagedUnderAValidCRCFailsTheRestartCleanly() throws {
        guard env.isRoot else { throw XCTSkip("the frames go through worker threads outside a PID namespace of the restorer's (root)") }
        let work = env.workDir("compress-damaged", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/textmemory", "48", "\(UInt64.random(in: 1...1_000_000))"], user: nil, cwd: work)
        let image = "\(work)/packed"
        let r = runTool(["\(env.bin)/cr_checkpoint", "-p", "--kill", "--compress", "-f", image, "\(pid)"])
        XCTAssertEqual(r.code, 0, r.output)
        _ = target.wait(timeout: 5)
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: image)))
        let fd = open(image, O_RDONLY)
        let frames = try ImageIndex.load(fd: fd).sections.filter { $0.type == SectionType.compressedPages.rawValue }
        close(fd)
        XCTAssertGreaterThan(frames.count, 3, "textmemory 48 should make several ZPAGES sections")
        // A section past the first (the first is read before the workers start).
        for z in [frames[frames.count / 2], frames[frames.count - 1]] {
            var bytes = good
            let payload = Int(z.offset) + ImageFormat.sectionHeaderSize
            let dataOffset = (0..<8).reduce(0) { $0 | Int(bytes[payload + 8 + $1]) << (8 * $1) }
            let frameLength = Int(z.length) - dataOffset
            bytes[payload + dataOffset + frameLength / 2] ^= 0x5a
            let crc = CRC32C.checksum(Array(bytes[payload..<(payload + Int(z.length))]))
            withUnsafeBytes(of: crc.littleEndian) { for (k, b) in $0.enumerated() { bytes[payload + Int(z.length) + k] = b } }
            let damaged = "\(work)/damaged"
            unlink(damaged)
            XCTAssertTrue(FileManager.default.createFile(atPath: damaged, contents: Data(bytes)))
            let restart = runTool(["\(env.bin)/cr_restart", damaged])
            XCTAssertEqual(restart.code, EINVAL, restart.output)
            let lines = restart.output.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, restart.output)
            XCTAssertTrue(restart.output.contains(damaged) && restart.output.contains("compressed PAGES data"), restart.output)
            XCTAssertEqual(kill(pid, 0), -1, "a half-restored process was left running")
        }
        // The undamaged image comes back and checks every page.
        let child = try Child(["\(env.bin)/cr_restart", image], cwd: work)
        usleep(300_000)
        kill(pid, SIGTERM)
        XCTAssertTrue(child.read(until: "PASS"), child.output)
        _ = child.wait(timeout: 10)
    }

    func testCompressionLevelIsChecked() {
        let r = runTool(["\(env.bin)/cr_checkpoint", "--compress=99", "1"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.output.contains("--compress"), r.output)
    }
}
