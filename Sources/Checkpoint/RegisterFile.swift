import LinuxKit

/// `user_regs_struct` <-> the image's 27 u64 in kernel order.
enum RegisterFile {
    static func array(_ r: Registers) -> [UInt64] {
        withUnsafeBytes(of: r) { raw in (0..<27).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) } }
    }

    static func registers(from a: [UInt64]) -> Registers {
        var r = Registers()
        withUnsafeMutableBytes(of: &r) { raw in
            for i in 0..<min(27, a.count) { raw.storeBytes(of: a[i], toByteOffset: i * 8, as: UInt64.self) }
        }
        return r
    }
}
