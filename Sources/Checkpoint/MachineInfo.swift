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

    /// XCR0 of this CPU: the xsave components the kernel enabled (x87, SSE, AVX, AVX-512...).
    public static var xfeatures: UInt64 { CPU.xfeatures }

    /// XSTATE_BV of an xsave area (byte 512): the components holding non-initial state.
    static func componentsInUse(_ area: [UInt8]) -> UInt64 {
        guard area.count >= 520 else { return 0 }
        return area.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 512, as: UInt64.self) }
    }

    public static let producer = "swiftcr \(SwiftCRVersion.number)"
}

/// The one place the version lives: --version of every tool, the images'
/// producer, the manual pages, and (through `swiftcr --version`) the
/// installed pkg-config files.
public enum SwiftCRVersion {
    public static let number = "0.2.0"
    /// The BLCR release whose API, options and exit codes are matched.
    public static let blcr = "0.8.6"
    public static var blcrTools: String { "swiftcr \(number) (BLCR \(blcr) compatible)" }
}
