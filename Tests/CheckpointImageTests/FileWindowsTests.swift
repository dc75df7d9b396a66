import Glibc
import XCTest
@testable import CheckpointImage

/// The dump's read-back checksums a growing file through long-lived
/// windows: a range must give the checksum of exactly its bytes wherever it
/// lies, across window boundaries, as the file grows after windows exist
/// and after earlier windows were let go (each round starts anywhere again).
final class FileWindowsTests: XCTestCase {
    func testRangesAcrossWindowsChecksumTheirBytesAsTheFileGrows() throws {
        var random = SeededRandom("file windows")
        func next(_ bound: UInt64) -> UInt64 { random.next(bound) }
        let fd = SampleImage.anonymousFile()
        defer { close(fd) }
        let window: UInt64 = 3 * 4096
        let windows = FileWindows(fd: fd, windowBytes: window)
        var content: [UInt8] = []
        for round in 0..<40 {
            // The file grows by a random piece, as sections are written.
            let grow = Int(1 + next(5 * window))
            let piece = (0..<grow).map { _ in UInt8(truncatingIfNeeded: next(256)) }
            XCTAssertEqual(piece.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(content.count)) }, grow)
            content += piece
            // Ranges in what exists so far, many across a boundary, in file
            // order from a random point (passed windows are let go).
            var from = next(UInt64(content.count))
            for _ in 0..<8 {
                let start = from + next(UInt64(content.count) - from)
                from = start
                let length = Int(1 + next(UInt64(content.count) - start))
                var viaWindows = CRC32C()
                XCTAssertTrue(windows.update(&viaWindows, from: start, length: length), "round \(round): \(start)+\(length)")
                var expected = CRC32C()
                content[Int(start)..<(Int(start) + length)].withUnsafeBytes { expected.update($0) }
                XCTAssertEqual(viaWindows.value, expected.value, "round \(round): \(start)+\(length) of \(content.count)")
            }
        }
        // Past the end: refused, not mapped (touching it would fault).
        var crc = CRC32C()
        XCTAssertFalse(windows.update(&crc, from: UInt64(content.count) - 1, length: 2))
        XCTAssertEqual(crc.value, CRC32C().value)
    }
}
