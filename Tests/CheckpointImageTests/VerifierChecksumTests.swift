import Glibc
import XCTest
@testable import CheckpointImage

/// The verifier checks large payloads several at once (read, or in place
/// for a checkpoint's own file) after its walk over the headers, and small
/// ones as it walks: every damaged section must be reported, once, at its
/// own offset and in file order, whichever path checked it.
final class VerifierChecksumTests: XCTestCase {
    func testEveryDamagedSectionIsReportedAtItsOffsetInOrder() throws {
        var random = SeededRandom("verifier")
        let seed = random.seed
        func next() -> UInt64 { random.next() }
        var mappedChecks = 0, readChecks = 0
        for round in 0..<4 {
            let fd = SampleImage.anonymousFile()
            defer { close(fd) }
            try ReadAheadTests.write(ReadAheadTests.batches(seed: seed &+ UInt64(round)), to: fd)
            lseek(fd, 0, SEEK_SET)
            let sections = try ReadAheadTests.readAll(fd)
            for inPlace in [false, true] {
                lseek(fd, 0, SEEK_SET)
                XCTAssertEqual(ImageVerifier.checksums(fd, inPlace: inPlace).0, [], "round \(round): a sound image")
            }
            // Damage a random third of the sections (in the first round all of them).
            var damaged: [UInt64] = []
            for (start, middle) in zip(sections.starts, sections.middles) where round == 0 || next() % 3 == 0 {
                var byte: UInt8 = 0
                XCTAssertEqual(pread(fd, &byte, 1, off_t(middle)), 1)
                byte ^= UInt8(1 << (next() % 8))
                XCTAssertEqual(pwrite(fd, &byte, 1, off_t(middle)), 1)
                damaged.append(start)
                if (middle - start - UInt64(ImageFormat.sectionHeaderSize)) * 2 >= 65536 { mappedChecks += 1 } else { readChecks += 1 }
            }
            for inPlace in [false, true] {
                lseek(fd, 0, SEEK_SET)
                let problems = ImageVerifier.checksums(fd, inPlace: inPlace).0
                XCTAssertEqual(problems.map(\.offset), damaged, "round \(round), in place \(inPlace): \(problems)")
                XCTAssertTrue(problems.allSatisfy { $0.what.contains("checksum mismatch") && $0.section.hasSuffix("PAGES") }, "\(problems)")
            }
        }
        XCTAssertGreaterThan(mappedChecks, 0, "no large payload was damaged: the seed's batches are too small")
        XCTAssertGreaterThan(readChecks, 0, "no small payload was damaged")
    }
}
