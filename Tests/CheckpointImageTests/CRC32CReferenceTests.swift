import CheckpointImage
import XCTest

/// CRC32C against a bytewise reference written here from the polynomial,
/// at every start alignment 0-63: every length from 0 to 8192, and 200
/// random lengths up to 16 MiB (log-uniform, so the three-lane path of
/// 12 KiB and more is hit at many sizes). The content is the same at every
/// alignment, so one reference pass serves them all.
final class CRC32CReferenceTests: XCTestCase {
    static let maxLength = 16 << 20

    /// Bit by bit, x^32 + ... reflected (0x82F63B78): no table shared with the code under test.
    static func referencePrefixes(_ data: UnsafeRawBufferPointer, at lengths: Set<Int>) -> [Int: UInt32] {
        var byteTable = [UInt32](repeating: 0, count: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            byteTable[i] = c
        }
        var out: [Int: UInt32] = [:]
        var c: UInt32 = 0xFFFF_FFFF
        let top = lengths.max() ?? 0
        byteTable.withUnsafeBufferPointer { t in
            for i in 0...top {
                if lengths.contains(i) { out[i] = c ^ 0xFFFF_FFFF }
                if i == top { break }
                c = t[Int((c ^ UInt32(data[i])) & 0xFF)] ^ (c >> 8)
            }
        }
        return out
    }

    func testEveryLengthAndAlignmentMatchesTheReference() {
        var seed = UInt64(getenv("SWIFTCR_CRC_SEED").flatMap { UInt64(String(cString: $0)) } ?? UInt64.random(in: 1...UInt64.max))
        let firstSeed = seed
        func next() -> UInt64 {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let content = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.maxLength, alignment: 64)
        let shifted = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.maxLength + 64, alignment: 64)
        defer { content.deallocate(); shifted.deallocate() }
        for i in stride(from: 0, to: Self.maxLength, by: 8) { content.storeBytes(of: next(), toByteOffset: i, as: UInt64.self) }
        var random: [Int] = [Self.maxLength, 12288, 12287, 12289]
        while random.count < 200 {
            let bits = Int(next() % 24) + 1
            random.append(min(Self.maxLength, Int(next() % (UInt64(1) << bits))))
        }
        let small = Array(0...8192)
        let expected = Self.referencePrefixes(UnsafeRawBufferPointer(content), at: Set(small + random))
        var failures = 0
        for alignment in 0..<64 {
            let base = UnsafeMutableRawBufferPointer(rebasing: shifted[alignment..<(alignment + Self.maxLength)])
            base.copyMemory(from: UnsafeRawBufferPointer(content))
            for length in small + random {
                var crc = CRC32C()
                crc.update(UnsafeRawBufferPointer(rebasing: base[0..<length]))
                if crc.value != expected[length] {
                    failures += 1
                    if failures <= 5 { XCTFail("CRC32C of \(length) bytes at alignment \(alignment): 0x\(String(crc.value, radix: 16)), reference 0x\(String(expected[length] ?? 0, radix: 16)) (SWIFTCR_CRC_SEED=\(firstSeed))") }
                }
            }
        }
    }
}
