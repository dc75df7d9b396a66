import CChecksum

/// CRC-32C (Castagnoli), as used by iSCSI, ext4 and btrfs: the SSE4.2
/// `crc32` instruction when the CPU has it, a table otherwise.
public struct CRC32C {
    public private(set) var state: UInt32 = 0xFFFF_FFFF
    static let hardware = ck_cpu_has_sse42() != 0
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    public init() {}

    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        if Self.hardware {
            var crc = UInt64(state)
            var i = 0
            let n = buffer.count
            // Large buffers: three lanes over equal thirds, then stitched together.
            let lane = (n / 3) & ~63
            if lane >= 4096 {
                var c0 = crc, c1: UInt64 = 0, c2: UInt64 = 0
                var k = 0
                while k < lane {
                    ck_crc32c_3x64(&c0, &c1, &c2, base + k, base + lane + k, base + 2 * lane + k)
                    k += 64
                }
                let shift = Self.shiftOperator(bytes: lane)
                crc = UInt64(Self.multiply(shift, Self.multiply(shift, UInt32(truncatingIfNeeded: c0)) ^ UInt32(truncatingIfNeeded: c1)) ^ UInt32(truncatingIfNeeded: c2))
                i = 3 * lane
            }
            while i + 64 <= n {
                crc = ck_crc32c_block64(crc, base + i)
                i += 64
            }
            while i + 8 <= n {
                crc = ck_crc32c_u64(crc, base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            var c32 = UInt32(truncatingIfNeeded: crc)
            while i < n {
                c32 = ck_crc32c_u8(c32, base.load(fromByteOffset: i, as: UInt8.self))
                i += 1
            }
            state = c32
        } else {
            var c = state
            for byte in buffer { c = Self.table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
            state = c
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    // MARK: shifting a CRC register over zero bytes (as zlib's crc32_combine)

    static let reflectedPolynomial: UInt32 = 0x82F6_3B78

    /// a * b modulo the CRC polynomial, both reflected (bit 31 is x^0).
    static func multiply(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var a = a, b = b, product: UInt32 = 0
        var m: UInt32 = 1 << 31
        while a != 0 {
            if a & m != 0 {
                product ^= b
                a ^= m
            }
            m >>= 1
            b = b & 1 != 0 ? (b >> 1) ^ reflectedPolynomial : b >> 1
        }
        return product
    }

    /// x^(2^k) modulo the polynomial, k = 0...63.
    static let powers: [UInt32] = {
        var table: [UInt32] = []
        var p: UInt32 = 1 << 30  // x^1
        for _ in 0..<64 {
            table.append(p)
            p = multiply(p, p)
        }
        return table
    }()

    /// x^(8 * bytes): multiplying a register state by it is the same as
    /// feeding it `bytes` zero bytes.
    static func shiftOperator(bytes: Int) -> UInt32 {
        var result: UInt32 = 1 << 31  // x^0
        var n = UInt64(bytes) * 8
        var k = 0
        while n != 0 {
            if n & 1 != 0 { result = multiply(powers[k], result) }
            n >>= 1
            k += 1
        }
        return result
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c = CRC32C()
        c.update(bytes)
        return c.value
    }

    public static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 {
        var c = CRC32C()
        c.update(buffer)
        return c.value
    }
}
