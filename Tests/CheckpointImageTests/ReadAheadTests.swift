import Glibc
import XCTest
@testable import CheckpointImage

/// The restorer's read-ahead reads several sections ahead and decompresses
/// ZPAGES frames on worker threads at once: sections must still come out in
/// file order with their own bytes, and a damaged section must fail at its
/// turn, after every section before it was handed out intact.
final class ReadAheadTests: XCTestCase {
    struct Batch {
        var runs: [(address: UInt64, pages: UInt64)]
        var data: [UInt8]
        var compressed: Bool
    }

    /// Seeded batches: 1 to 64 pages each, compressible (repeated words with
    /// random ones among them) or not, each compressed or stored plain.
    static func batches(seed: UInt64) -> [Batch] {
        var random = seed
        func next() -> UInt64 {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            return random >> 11
        }
        var address: UInt64 = 0x10_0000_0000
        return (0..<(8 + Int(next() % 33))).map { _ in
            let pages = 1 + next() % 64
            address += (1 + next() % 4) * 4096
            let runs = [(address: address, pages: pages)]
            address += pages * 4096
            let noisy = next() % 4 == 0
            let word = UInt8(truncatingIfNeeded: next())
            let data = (0..<Int(pages * 4096)).map { i in noisy || i % 97 == 0 ? UInt8(truncatingIfNeeded: next()) : word &+ UInt8(i % 7) }
            return Batch(runs: runs, data: data, compressed: next() % 3 != 0)
        }
    }

    static func write(_ batches: [Batch], to fd: Int32) throws {
        let w = try ImageWriter(fd: fd)
        guard let compressor = PageCompressor(level: 1) else { throw ImageError.io("no zstd context") }
        for b in batches {
            try b.data.withUnsafeBytes { bytes in
                guard b.compressed else { return try w.writePages(pid: 42, runs: b.runs, data: bytes) }
                var frame = [UInt8](repeating: 0, count: PageCompressor.bound(bytes.count))
                let size = try frame.withUnsafeMutableBytes { try compressor.compress(bytes, into: $0) }
                try frame.withUnsafeBytes { f in
                    try w.commit(try w.preparePages(pid: 42, runs: b.runs, data: bytes, frame: UnsafeRawBufferPointer(rebasing: f[0..<size])))
                }
            }
        }
        try w.finish()
    }

    /// Reads every section with read-ahead on; the pages sections' bytes and starts, in order.
    static func readAll(_ fd: Int32) throws -> (pages: [[UInt8]], starts: [UInt64], middles: [UInt64], ended: Bool) {
        let reader = try ImageReader(fd: fd)
        reader.readAhead = true
        var pages: [[UInt8]] = [], starts: [UInt64] = [], middles: [UInt64] = [], ended = false
        while let section = try reader.next() {
            switch section {
            case .pages(let p):
                pages.append(Array(p.data))
                starts.append(p.sectionStart)
                middles.append(p.sectionStart + UInt64(ImageFormat.sectionHeaderSize + p.payloadLength / 2))
            case .end: ended = true
            default: break
            }
        }
        return (pages, starts, middles, ended)
    }

    func testSectionsComeOutInOrderWithTheirOwnBytes() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SWIFTCR_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        print("read-ahead seed \(seed) (rerun with SWIFTCR_SEED=\(seed))")
        for round in 0..<4 {
            let batches = Self.batches(seed: seed &+ UInt64(round))
            let fd = SampleImage.anonymousFile()
            defer { close(fd) }
            try Self.write(batches, to: fd)
            lseek(fd, 0, SEEK_SET)
            let got = try Self.readAll(fd)
            XCTAssertTrue(got.ended, "seed \(seed) round \(round): no END")
            XCTAssertEqual(got.pages.count, batches.count, "seed \(seed) round \(round)")
            for (k, b) in batches.enumerated() where k < got.pages.count {
                XCTAssertTrue(got.pages[k] == b.data, "seed \(seed) round \(round): section \(k) holds other bytes")
            }
            // Through a pipe too: the read-ahead reads in stream order.
            var ends: [Int32] = [0, 0]
            XCTAssertEqual(pipe(&ends), 0)
            let (source, sink) = (fd, ends[1])
            let writer = Thread { Self.copy(source, to: sink) }
            writer.start()
            let piped = try Self.readAll(ends[0])
            close(ends[0])
            XCTAssertEqual(piped.pages.count, batches.count, "seed \(seed) round \(round): through a pipe")
            XCTAssertTrue(piped.pages.elementsEqual(batches.map(\.data)), "seed \(seed) round \(round): through a pipe, other bytes")
        }
    }

    func testADamagedSectionFailsAtItsTurn() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SWIFTCR_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        print("read-ahead damage seed \(seed) (rerun with SWIFTCR_SEED=\(seed))")
        let batches = Self.batches(seed: seed)
        let fd = SampleImage.anonymousFile()
        defer { close(fd) }
        try Self.write(batches, to: fd)
        lseek(fd, 0, SEEK_SET)
        let middles = try Self.readAll(fd).middles
        for damaged in Set([1, middles.count / 2, middles.count - 1]) where damaged > 0 {
            // One byte in the middle of the section's payload.
            let at = off_t(middles[damaged])
            var byte: UInt8 = 0
            XCTAssertEqual(pread(fd, &byte, 1, at), 1)
            var flipped = byte ^ 0x40
            XCTAssertEqual(pwrite(fd, &flipped, 1, at), 1)
            defer { _ = pwrite(fd, &byte, 1, at) }
            lseek(fd, 0, SEEK_SET)
            let reader = try ImageReader(fd: fd)
            reader.readAhead = true
            var handedOut = 0
            do {
                while let section = try reader.next() {
                    if case .pages(let p) = section {
                        XCTAssertTrue(Array(p.data) == batches[handedOut].data, "seed \(seed): section \(handedOut) before the damage changed")
                        handedOut += 1
                    }
                }
                XCTFail("seed \(seed): damage in section \(damaged) not found")
            } catch {
                XCTAssertEqual(handedOut, damaged, "seed \(seed): the error came at section \(handedOut), the damage is in \(damaged): \(error)")
            }
        }
    }

    static func copy(_ from: Int32, to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(from, $0.baseAddress, $0.count, offset) }
            guard n > 0 else { break }
            offset += off_t(n)
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { Glibc.write(to, $0.baseAddress! + done, n - done) }
                guard w > 0 else { close(to); return }
                done += w
            }
        }
        close(to)
    }
}

/// The reader's buffers must be reused from section to section: each new
/// one is faulted in and cleared (a 64 MiB restart spent 21 ms clearing
/// buffers when a section's page offset made it a few bytes too small).
final class ReusableBufferTests: XCTestCase {
    func testSectionsThatDifferOnlyInTheirPageOffsetReuseOneBuffer() {
        var random: UInt64 = 0x5eed_0001
        func next() -> Int {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            return Int(random >> 33)
        }
        for _ in 0..<20 {
            let reusable = ReusableBuffer()
            // A 4 MiB batch's payload: its table plus the pages, at a varying place in its page.
            let length = 4 << 20 + 32 + next() % 8192
            let first = reusable.ensure(next() % 4096 + length + 4)
            // A mark in each page it holds: a new buffer (even at the same address) would read zeros there.
            for page in stride(from: 0, to: first.count, by: 4096) { first[page] = 0xA5 }
            for _ in 0..<16 {
                let again = reusable.ensure(next() % 4096 + length + 4)
                let kept = stride(from: 0, to: again.count, by: 4096).allSatisfy { again[$0] == 0xA5 }
                XCTAssertTrue(kept, "a section a few bytes longer got a new buffer")
            }
            // It still grows when a section does not fit.
            let bigger = reusable.ensure(first.count + 1)
            XCTAssertGreaterThanOrEqual(bigger.count, first.count + 1)
        }
    }
}
