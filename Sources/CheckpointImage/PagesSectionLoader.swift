import Glibc

/// Reads one PAGES section of a seekable image by its place in the file
/// (`PagesSection.sectionStart`, `payloadLength`), checks its checksum, and
/// hands out its page data. Lazy restore loads sections in the order the
/// restored process needs them, not the file's. The buffer is reused: the
/// data of one load is valid until the next.
public final class PagesSectionLoader {
    public let fd: Int32
    private var buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    public init(fd: Int32) { self.fd = fd }

    deinit { buffer.deallocate() }

    /// The section's page data (its runs' pages back to back).
    public func load(_ section: ImageReader.PagesSection) throws -> UnsafeRawBufferPointer {
        let length = section.payloadLength
        guard length >= 16, length <= ImageFormat.maxSectionPayload else {
            throw ImageError.malformed(what: "PAGES section of \(length) bytes", offset: section.sectionStart)
        }
        let total = ImageFormat.sectionHeaderSize + length + 4
        if buffer.count < total {
            buffer.deallocate()
            buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1 << 20), alignment: 4096)
        }
        let view = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<total])
        guard try FileIO.read(fd, into: view, at: section.sectionStart) == total else {
            throw ImageError.truncated(offset: section.sectionStart, expected: "a PAGES section")
        }
        let header = try SectionHeader(decoding: Array(view[0..<ImageFormat.sectionHeaderSize]), at: section.sectionStart)
        guard header.type == SectionType.pages.rawValue, Int(header.payloadLength) == length else {
            throw ImageError.malformed(what: "no PAGES section of \(length) bytes here", offset: section.sectionStart)
        }
        let payload = UnsafeRawBufferPointer(rebasing: view[ImageFormat.sectionHeaderSize..<(ImageFormat.sectionHeaderSize + length)])
        let stored = view.loadUnaligned(fromByteOffset: ImageFormat.sectionHeaderSize + length, as: UInt32.self).littleEndian
        guard CRC32C.checksum(payload) == stored else { throw ImageError.checksum(section: "PAGES", offset: section.sectionStart) }
        let dataOffset = Int(payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian)
        let bytes = section.runs.reduce(0) { $0 + Int($1.byteCount) }
        guard dataOffset >= 16, dataOffset + bytes <= length else {
            throw ImageError.malformed(what: "PAGES data does not fit its section", offset: section.sectionStart)
        }
        return UnsafeRawBufferPointer(rebasing: payload[dataOffset..<(dataOffset + bytes)])
    }
}
