import CLinux

/// CRC-32C (Castagnoli), as used by iSCSI, ext4 and btrfs: the SSE4.2
/// `crc32` instruction when the CPU has it, a table otherwise.
public struct CRC32C {
    public private(set) var state: UInt32 = 0xFFFF_FFFF
    static let hardware = cl_cpu_has_sse42() != 0
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
            while i + 8 <= n {
                crc = cl_crc32c_u64(crc, base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            var c32 = UInt32(truncatingIfNeeded: crc)
            while i < n {
                c32 = cl_crc32c_u8(c32, base.load(fromByteOffset: i, as: UInt8.self))
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
