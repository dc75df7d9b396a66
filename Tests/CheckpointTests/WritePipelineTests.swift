import CLinux
import CheckpointImage
import Glibc
import XCTest
@testable import Checkpoint

/// The dump's writer thread and its check before commit, on a real file
/// (no process): every written section is read back once, by whichever
/// thread is idle, and a section whose bytes changed after their checksum
/// was taken fails the dump.
final class WritePipelineTests: XCTestCase {
    private static let batchBytes = 64 << 10

    /// Seeded section sizes and contents. The reading side is the slow one
    /// here (it pauses before each section, as one copying and checksumming
    /// every page can be), so the writer is idle between sections: it
    /// checks what it wrote without waiting for the end (the reading side
    /// never calls finish until all are), and no section is checked twice
    /// or missed.
    func testAnIdleWriterChecksWhatItWroteAndEverySectionOnce() throws {
        var random = SeededLCG(state: TestEnvironment.seed(for: "write-pipeline"))
        let (writer, fd) = try Self.openImage()
        defer { close(fd) }
        let pool = PageBufferPool(count: 3, byteCount: Self.batchBytes)
        let pipeline = WritePipeline(writer: writer, pool: pool, readBackBytes: Self.batchBytes + 4096 + Self.batchBytes / 4096 * 16 + 16)
        defer { pipeline.drain() }
        var offsets: [UInt64] = []
        let sections = 12 + Int(random.next(12))
        for k in 0..<sections {
            usleep(3_000)
            let buffer = pool.take()
            let pages = 1 + Int(random.next(UInt64(Self.batchBytes / 4096)))
            for i in 0..<(pages * 4096) { buffer.bytes[i] = UInt8(truncatingIfNeeded: random.next(256) | 1) }
            let prepared = try writer.preparePages(pid: 1, runs: [(address: UInt64(k) << 32, pages: UInt64(pages))],
                                                   data: UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<(pages * 4096)]))
            offsets.append(prepared.offset)
            pipeline.submit(prepared, holding: buffer)
        }
        // The writer is idle now: it checks what is left on its own (up to 10 s on a loaded machine).
        var beforeFinish = pipeline.checkedSections
        for _ in 0..<1000 where beforeFinish.count < sections {
            usleep(10_000)
            beforeFinish = pipeline.checkedSections
        }
        try pipeline.finish()
        XCTAssertEqual(beforeFinish.count, sections, "the idle writer left its checks for the end: \(beforeFinish.count) of \(sections) checked before it")
        XCTAssertEqual(pipeline.checkedSections.sorted(), offsets, "each section checked exactly once")
    }

    /// A section changed between its checksum and its write (what a stray
    /// write into the buffer would do) is found by the check, whichever
    /// thread makes it, and the pipeline's finish throws with its offset.
    func testASectionChangedAfterItsChecksumFailsTheCheck() throws {
        var random = SeededLCG(state: TestEnvironment.seed(for: "write-pipeline-bad"))
        for slowReader in [true, false] {
            let (writer, fd) = try Self.openImage()
            defer { close(fd) }
            let pool = PageBufferPool(count: 3, byteCount: Self.batchBytes)
            let pipeline = WritePipeline(writer: writer, pool: pool, readBackBytes: Self.batchBytes + 4096 + Self.batchBytes / 4096 * 16 + 16)
            defer { pipeline.drain() }
            let sections = 6 + Int(random.next(6))
            let bad = Int(random.next(UInt64(sections)))
            var badOffset: UInt64 = 0
            var failure: Error?
            for k in 0..<sections {
                if slowReader { usleep(2_000) }
                do {
                    try pipeline.checkFailure()
                    try pipeline.checkWhileWaiting()
                } catch { failure = error; break }
                let buffer = pool.take()
                for i in 0..<Self.batchBytes { buffer.bytes[i] = UInt8(truncatingIfNeeded: random.next(256) | 1) }
                let prepared = try writer.preparePages(pid: 1, runs: [(address: UInt64(k) << 32, pages: UInt64(Self.batchBytes / 4096))],
                                                       data: UnsafeRawBufferPointer(buffer.bytes))
                if k == bad {
                    badOffset = prepared.offset
                    buffer.bytes[Int(random.next(UInt64(Self.batchBytes)))] ^= 0x40
                }
                pipeline.submit(prepared, holding: buffer)
            }
            if failure == nil {
                do { try pipeline.finish() } catch { failure = error }
            }
            let message = "\(failure.map { "\($0)" } ?? "no error")"
            XCTAssertTrue(message.contains("PAGES at byte \(badOffset)") && message.contains("do not match their checksum"),
                          "slow reader \(slowReader): \(message)")
        }
    }

    private static func openImage() throws -> (ImageWriter, Int32) {
        let fd = open("/tmp", CL_O_TMPFILE | O_RDWR, 0o600)
        guard fd >= 0 else { throw XCTSkip("no O_TMPFILE in /tmp") }
        return (try ImageWriter(fd: fd), fd)
    }
}
