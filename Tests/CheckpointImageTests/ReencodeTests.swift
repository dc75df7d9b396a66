import Foundation
import Glibc
import XCTest
@testable import CheckpointImage

/// Every sample image decodes and re-encodes to the same bytes: nothing a
/// reader sees is lost, and the writer is deterministic.
final class ReencodeTests: XCTestCase {
    static var samples: [String] {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/images").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".swiftcr") }.sorted().map { dir + "/" + $0 }
    }

    func reencode(_ path: String) throws -> [UInt8] {
        let input = open(path, O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(input, 0, path)
        defer { close(input) }
        var template = Array("/tmp/swiftcr-reencode.XXXXXX".utf8CString)
        let output = mkstemp(&template)
        unlink(String(cString: template))
        defer { close(output) }
        let reader = try ImageReader(fd: input)
        let writer = try ImageWriter(fd: output)
        while let section = try reader.next() {
            switch section {
            case .inventory(let inv): try writer.write(inv)
            case .process(let p): try writer.write(p)
            case .zombie(let z): try writer.write(z)
            case .tree(let t): try writer.write(t)
            case .pages(let p) where p.runs.first?.compressed == true:
                // zstd's bytes may differ between its versions: compressed again, compared decoded (below).
                guard let compressor = PageCompressor(level: 19) else { throw ImageError.io("no zstd context") }
                var frame = [UInt8](repeating: 0, count: PageCompressor.bound(p.data.count))
                let size = try frame.withUnsafeMutableBytes { try compressor.compress(p.data, into: $0) }
                try frame.withUnsafeBytes { f in
                    try writer.commit(try writer.preparePages(pid: p.pid, runs: p.runs.map { ($0.address, $0.pageCount) }, data: p.data,
                                                              frame: UnsafeRawBufferPointer(rebasing: f[0..<size])))
                }
            case .pages(let p): try writer.writePages(pid: p.pid, runs: p.runs.map { ($0.address, $0.pageCount) }, data: p.data)
            case .index: continue
            case .end: break
            }
        }
        try writer.finish()
        var st = stat()
        fstat(output, &st)
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        _ = bytes.withUnsafeMutableBytes { pread(output, $0.baseAddress, $0.count, 0) }
        return bytes
    }

    func testEverySampleReencodesToTheSameBytes() throws {
        XCTAssertGreaterThanOrEqual(Self.samples.count, 2, "no sample images found")
        for path in Self.samples {
            let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let again = try reencode(path)
            if try LoadedImage.load(path: path).pageRuns.contains(where: \.compressed) {
                try assertSameContent(path, again)
                continue
            }
            XCTAssertEqual(again.count, original.count, path)
            // An older minor version comes back as the current one: only the file header's version (and its CRC) may differ.
            let sameVersion = original[8..<12] == again[8..<12]
            XCTAssertTrue(sameVersion ? again == original : again[64...] == original[64...], "\(path): re-encoding changed the bytes (first difference at \(zip(again, original).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1))")
        }
    }

    /// A compressed sample and its re-encoding hold the same records and pages.
    func assertSameContent(_ path: String, _ again: [UInt8]) throws {
        func content(_ fd: Int32) throws -> (LoadedImage, [[UInt8]]) {
            let reader = try ImageReader(fd: fd)
            var pages: [[UInt8]] = []
            while let section = try reader.next() { if case .pages(let p) = section { pages.append(Array(p.data)) } }
            lseek(fd, 0, SEEK_SET)
            return (try LoadedImage.load(fd: fd), pages)
        }
        let original = open(path, O_RDONLY | O_CLOEXEC)
        defer { close(original) }
        let copy = SampleImage.fd(again)
        defer { close(copy) }
        let (a, pagesA) = try content(original), (b, pagesB) = try content(copy)
        XCTAssertEqual(a.processes, b.processes, path)
        XCTAssertEqual(a.inventory, b.inventory, path)
        // Where the runs are may move with the frames' sizes; what they hold may not.
        XCTAssertEqual(a.pageRuns.map { [UInt64(UInt32(bitPattern: $0.pid)), $0.address, $0.pageCount, $0.compressed ? 1 : 0] },
                       b.pageRuns.map { [UInt64(UInt32(bitPattern: $0.pid)), $0.address, $0.pageCount, $0.compressed ? 1 : 0] }, path)
        XCTAssertEqual(pagesA, pagesB, path)
    }
}
