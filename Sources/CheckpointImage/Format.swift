/// Constants of the image container (docs/IMAGE-FORMAT.md §2-3).
public enum ImageFormat {
    /// "SWIFTCR" followed by a zero byte.
    public static let magic: [UInt8] = Array("SWIFTCR".utf8) + [0]
    public static let major: UInt16 = 1
    /// 1.1 added the ZOMBIE section (process trees); 1.2 moved each
    /// descriptor kind's state from positional values into a typed payload
    /// record (fd tag 22); 1.3 added socket options, file owners and
    /// leases (fd tags 23-25); 1.4 added pages a child shares copy-on-write
    /// with its parent (mapping tag 18); 1.5 added incremental images (pages
    /// from a parent image, mapping tag 19; inventory tags 11-15); 1.6 added
    /// compressed page data (ZPAGES sections, written only with --compress).
    /// Readers still take 1.0 to 1.5 images.
    public static let minor: UInt16 = 6
    public static let fileHeaderSize = 64
    public static let sectionHeaderSize = 32
    /// Largest section payload a reader accepts; writers stay well below.
    public static let maxSectionPayload: UInt64 = 256 << 20
    /// Page data in PAGES sections starts at file offsets that are multiples of this.
    public static let pageAlignment: UInt64 = 4096

    public static var versionString: String { "\(major).\(minor)" }
}

/// Section types. Bit 31 of the section flags marks a section optional:
/// readers skip optional sections they do not know and refuse unknown required ones.
public enum SectionType: UInt32, Sendable {
    case inventory = 1
    case process = 2
    case pages = 3
    case index = 4
    case end = 5
    case zombie = 6
    /// Since 1.2: tree-wide objects (TreeState), after the INVENTORY.
    case tree = 7
    /// Since 1.6: a PAGES section whose page data is one zstd frame
    /// (cr_checkpoint --compress). Required: a reader that cannot
    /// decompress refuses the image instead of misreading it.
    case compressedPages = 8

    /// Either kind of page section.
    public var holdsPages: Bool { self == .pages || self == .compressedPages }

    public var name: String {
        switch self {
        case .inventory: return "INVENTORY"
        case .process: return "PROCESS"
        case .pages: return "PAGES"
        case .index: return "INDEX"
        case .end: return "END"
        case .zombie: return "ZOMBIE"
        case .tree: return "TREE"
        case .compressedPages: return "ZPAGES"
        }
    }
}

public struct SectionFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let optional = SectionFlags(rawValue: 1 << 31)
}

/// Little-endian helpers over byte arrays.
enum LE {
    static func put<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func get<T: FixedWidthInteger>(_ type: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
        var v: T = 0
        for k in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: bytes[offset + k]) << (8 * k) }
        return v
    }
}

/// The fixed 32-byte header in front of every section.
struct SectionHeader {
    var type: UInt32
    var flags: UInt32
    var payloadLength: UInt64

    func encode() -> [UInt8] {
        var b: [UInt8] = []
        LE.put(type, into: &b)
        LE.put(flags, into: &b)
        LE.put(payloadLength, into: &b)
        b += [UInt8](repeating: 0, count: 12)
        LE.put(CRC32C.checksum(b), into: &b)
        return b
    }

    init(type: UInt32, flags: UInt32, payloadLength: UInt64) {
        self.type = type; self.flags = flags; self.payloadLength = payloadLength
    }

    init(decoding b: [UInt8], at offset: UInt64) throws {
        guard b.count == ImageFormat.sectionHeaderSize else { throw ImageError.truncated(offset: offset, expected: "a section header") }
        guard CRC32C.checksum(Array(b[0..<28])) == LE.get(UInt32.self, b, at: 28) else {
            throw ImageError.checksum(section: "section header", offset: offset)
        }
        type = LE.get(UInt32.self, b, at: 0)
        flags = LE.get(UInt32.self, b, at: 4)
        payloadLength = LE.get(UInt64.self, b, at: 8)
    }
}

/// One run of consecutive saved pages and where its bytes are in the file.
public struct PageRun: Equatable, Sendable {
    public var pid: Int32
    public var address: UInt64
    public var pageCount: UInt64
    /// Absolute file offset of the first byte of the run's data; for a run
    /// in a ZPAGES section (`compressed`), the offset of that section.
    public var fileOffset: UInt64
    public var compressed = false
    public init(pid: Int32, address: UInt64, pageCount: UInt64, fileOffset: UInt64, compressed: Bool = false) {
        self.pid = pid; self.address = address; self.pageCount = pageCount; self.fileOffset = fileOffset
        self.compressed = compressed
    }
    public var byteCount: UInt64 { pageCount * 4096 }
    public var end: UInt64 { address + byteCount }
}
