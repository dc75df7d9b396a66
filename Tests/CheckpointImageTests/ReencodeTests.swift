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
            XCTAssertEqual(again.count, original.count, path)
            // An older minor version comes back as the current one: only the file header's version (and its CRC) may differ.
            let sameVersion = original[8..<12] == again[8..<12]
            XCTAssertTrue(sameVersion ? again == original : again[64...] == original[64...], "\(path): re-encoding changed the bytes (first difference at \(zip(again, original).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1))")
        }
    }
}
