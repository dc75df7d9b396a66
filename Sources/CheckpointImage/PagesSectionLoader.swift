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
        let (payload, dataOffset) = try loadPayload(at: section.sectionStart, length: section.payloadLength)
        let bytes = section.runs.reduce(0) { $0 + Int($1.byteCount) }
        guard dataOffset + bytes <= payload.count else {
            throw ImageError.malformed(what: "PAGES data does not fit its section", offset: section.sectionStart)
        }
        return UnsafeRawBufferPointer(rebasing: payload[dataOffset..<(dataOffset + bytes)])
    }

    /// A section found through the INDEX (`ImageIndex.SectionEntry`): its
    /// page data from its first page on, and that page's offset in the file
    /// (where the INDEX's runs point).
    public func load(_ entry: ImageIndex.SectionEntry) throws -> (data: UnsafeRawBufferPointer, fileOffset: UInt64) {
        let (payload, dataOffset) = try loadPayload(at: entry.offset, length: Int(clamping: entry.length))
        return (UnsafeRawBufferPointer(rebasing: payload[dataOffset...]),
                entry.offset + UInt64(ImageFormat.sectionHeaderSize) + UInt64(dataOffset))
    }

    /// The checked payload of the PAGES section at `start`, and where its page data begins in it.
    private func loadPayload(at start: UInt64, length: Int) throws -> (UnsafeRawBufferPointer, Int) {
        guard length >= 16, length <= ImageFormat.maxSectionPayload else {
            throw ImageError.malformed(what: "PAGES section of \(length) bytes", offset: start)
        }
        let total = ImageFormat.sectionHeaderSize + length + 4
        if buffer.count < total {
            buffer.deallocate()
            buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1 << 20), alignment: 4096)
        }
        let view = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<total])
        guard try FileIO.read(fd, into: view, at: start) == total else {
            throw ImageError.truncated(offset: start, expected: "a PAGES section")
        }
        let header = try SectionHeader(decoding: Array(view[0..<ImageFormat.sectionHeaderSize]), at: start)
        guard header.type == SectionType.pages.rawValue, Int(header.payloadLength) == length else {
            throw ImageError.malformed(what: "no PAGES section of \(length) bytes here", offset: start)
        }
        let payload = UnsafeRawBufferPointer(rebasing: view[ImageFormat.sectionHeaderSize..<(ImageFormat.sectionHeaderSize + length)])
        let stored = view.loadUnaligned(fromByteOffset: ImageFormat.sectionHeaderSize + length, as: UInt32.self).littleEndian
        guard CRC32C.checksum(payload) == stored else { throw ImageError.checksum(section: "PAGES", offset: start) }
        let dataOffset = Int(payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian)
        guard dataOffset >= 16, dataOffset <= length else {
            throw ImageError.malformed(what: "PAGES data does not fit its section", offset: start)
        }
        return (payload, dataOffset)
    }
}
