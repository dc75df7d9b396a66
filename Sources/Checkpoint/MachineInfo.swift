import Glibc
import LinuxKit

/// Facts about this machine recorded in, and checked against, images.
public enum MachineInfo {
    public static var kernelRelease: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    public static var machine: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    public static var hostname: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// XCR0 as recorded in an xsave area's header (xstate_bv of the fx_sw bytes
    /// may read 0; fall back to the header's XSTATE_BV at byte 512).
    static func xfeatures(ofXsave area: [UInt8]) -> UInt64 {
        guard area.count >= 520 else { return 0 }
        return area.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 512, as: UInt64.self) }
    }

    public static let producer = "swiftcr 0.1.0"
}
