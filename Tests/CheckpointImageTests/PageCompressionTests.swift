import CheckpointImage
import XCTest

/// ZPAGES frames decompressed a piece at a time (a restore's FrameFill):
/// whole pages per piece, every byte in place, damage refused.
final class PageCompressionTests: XCTestCase {
    /// Seeded page data (text-like, zero and random pages) of seeded sizes,
    /// through scratch buffers of seeded sizes, some not a page multiple.
    func testPiecesAreWholePagesAndRebuildTheFrame() throws {
        var random = SeededRandom("pieces")
        for _ in 0..<24 {
            let pages = Int(random.next(300)) + 1
            var source = [UInt8](repeating: 0, count: pages * 4096)
            for p in 0..<pages {
                switch random.next(4) {
                case 0: break  // zeros
                case 1: for k in 0..<4096 { source[p * 4096 + k] = UInt8(truncatingIfNeeded: random.next()) }
                default:
                    let line = Array("record \(random.next(100_000)): item=\(p)\n".utf8)
                    for k in 0..<4096 { source[p * 4096 + k] = line[k % line.count] }
                }
            }
            let frame = try compress(source)
            let scratchBytes = [4096, 4096 + 1000, 3 * 4096 - 1, 64 << 10, 256 << 10, 8 << 20][Int(random.next(6))]
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: scratchBytes, alignment: 4096)
            defer { scratch.deallocate() }
            var rebuilt = [UInt8](repeating: 0xee, count: source.count)
            var next = 0
            try frame.withUnsafeBytes { f in
                try PageDecompressor().decompress(f, total: source.count, in: scratch, at: 0) { piece, at in
                    XCTAssertEqual(at, next, "pieces come in order, back to back")
                    XCTAssertEqual(piece.count % 4096, 0, "a piece of \(piece.count) bytes is not whole pages")
                    XCTAssertLessThanOrEqual(piece.count, scratchBytes)
                    rebuilt.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: at).copyMemory(from: piece.baseAddress!, byteCount: piece.count) }
                    next = at + piece.count
                }
            }
            XCTAssertEqual(next, source.count)
            XCTAssertTrue(rebuilt == source, "the pieces differ from the pages (\(pages) pages, scratch \(scratchBytes))")
        }
    }

    /// A frame cut short, with bytes after it, of another size, or with a
    /// flipped byte is refused, never handed out as whole.
    func testDamagedFramesAreRefused() throws {
        let source = [UInt8]((0..<(64 * 4096)).map { UInt8(truncatingIfNeeded: $0 / 37) })
        let frame = try compress(source)
        var flipped = frame
        flipped[flipped.count - 6] ^= 0x40  // the content checksum
        let cases: [(String, [UInt8], Int)] = [
            ("cut", Array(frame[0..<(frame.count - 9)]), source.count),
            ("trailing", frame + [1, 2, 3], source.count),
            ("other size", frame, source.count - 4096),
            ("checksum", flipped, source.count),
        ]
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 << 10, alignment: 4096)
        defer { scratch.deallocate() }
        for (name, bytes, total) in cases {
            var handed = 0
            XCTAssertThrowsError(try bytes.withUnsafeBytes { f in
                try PageDecompressor().decompress(f, total: total, in: scratch, at: 100) { piece, _ in handed += piece.count }
            }, name) { e in
                XCTAssertTrue("\(e)".contains("compressed PAGES data") && "\(e)".contains("100"), "\(name): \(e)")
            }
            XCTAssertLessThanOrEqual(handed, total, name)
        }
    }

    private func compress(_ source: [UInt8]) throws -> [UInt8] {
        guard let compressor = PageCompressor(level: 1) else { throw XCTSkip("no zstd context") }
        var out = [UInt8](repeating: 0, count: PageCompressor.bound(source.count))
        let n = try source.withUnsafeBytes { s in try out.withUnsafeMutableBytes { try compressor.compress(s, into: $0) } }
        return Array(out[0..<n])
    }
}
