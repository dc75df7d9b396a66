import Glibc

/// Reads one PAGES or ZPAGES section of a seekable image by its place in the
/// file (`PagesSection.sectionStart`, `payloadLength`, or an INDEX entry),
/// checks its checksum, decompresses a ZPAGES frame, and hands out its page
/// data. Lazy restore loads sections in the order the restored process
/// needs them, not the file's. The buffers are reused: the data of one load
/// is valid until the next.
public final class PagesSectionLoader {
    public let fd: Int32
    private let buffer = ReusableBuffer()
    private let pages = ReusableBuffer()
    private lazy var decompressor = PageDecompressor()

    public init(fd: Int32) { self.fd = fd }

    /// A section's run table and its page data (the runs' pages back to back).
    public struct Loaded {
        public let runs: [(address: UInt64, pages: UInt64)]
        public let data: UnsafeRawBufferPointer

        /// The bytes of [address, address+length), which one run of the section holds.
        public func bytes(at address: UInt64, length: UInt64) -> UnsafeRawBufferPointer? {
            var offset: UInt64 = 0
            for r in runs {
                let end = r.address + r.pages * 4096
                if address >= r.address && address + length <= end {
                    let from = Int(offset + (address - r.address))
                    return UnsafeRawBufferPointer(rebasing: data[from..<(from + Int(length))])
                }
                offset += r.pages * 4096
            }
            return nil
        }
    }

    /// The section's page data (its runs' pages back to back).
    public func load(_ section: ImageReader.PagesSection) throws -> UnsafeRawBufferPointer {
        let loaded = try load(at: section.sectionStart, length: section.payloadLength)
        guard section.byteCount == loaded.data.count else {
            throw ImageError.malformed(what: "PAGES data does not fit its section", offset: section.sectionStart)
        }
        return loaded.data
    }

    /// A section found through the INDEX (`ImageIndex.SectionEntry`).
    public func load(_ entry: ImageIndex.SectionEntry) throws -> Loaded {
        try load(at: entry.offset, length: Int(clamping: entry.length))
    }

    /// The checked section at `start`: its table, and its page data (decompressed for ZPAGES).
    private func load(at start: UInt64, length: Int) throws -> Loaded {
        guard length >= 16, length <= ImageFormat.maxSectionPayload else {
            throw ImageError.malformed(what: "PAGES section of \(length) bytes", offset: start)
        }
        let total = ImageFormat.sectionHeaderSize + length + 4
        // At the file offset's place in its page: page data (page aligned in
        // the file) is then page aligned here, and UFFDIO_COPY from it runs
        // two to three times as fast as from a source across pages.
        let pad = Int(start % 4096)
        let buffer = self.buffer.ensure(pad + total)
        let view = UnsafeMutableRawBufferPointer(rebasing: buffer[pad..<(pad + total)])
        guard try FileIO.read(fd, into: view, at: start) == total else {
            throw ImageError.truncated(offset: start, expected: "a PAGES section")
        }
        let header = try SectionHeader(decoding: Array(view[0..<ImageFormat.sectionHeaderSize]), at: start)
        guard let type = SectionType(rawValue: header.type), type.holdsPages, Int(header.payloadLength) == length else {
            throw ImageError.malformed(what: "no PAGES section of \(length) bytes here", offset: start)
        }
        let payload = UnsafeRawBufferPointer(rebasing: view[ImageFormat.sectionHeaderSize..<(ImageFormat.sectionHeaderSize + length)])
        let stored = view.loadUnaligned(fromByteOffset: ImageFormat.sectionHeaderSize + length, as: UInt32.self).littleEndian
        guard CRC32C.checksum(payload) == stored else { throw ImageError.checksum(section: type.name, offset: start) }
        let count = Int(payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian)
        let dataOffset = Int(clamping: payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian)
        guard count <= (length - 16) / 16, dataOffset >= 16 + count * 16, dataOffset <= length else {
            throw ImageError.malformed(what: "PAGES data does not fit its section", offset: start)
        }
        var runs: [(address: UInt64, pages: UInt64)] = []
        var bytes: UInt64 = 0
        for i in 0..<count {
            let pages = payload.loadUnaligned(fromByteOffset: 24 + i * 16, as: UInt64.self).littleEndian
            guard pages > 0, pages <= ImageFormat.maxSectionPayload / 4096 else {
                throw ImageError.malformed(what: "PAGES run \(i) of \(pages) pages", offset: start)
            }
            runs.append((payload.loadUnaligned(fromByteOffset: 16 + i * 16, as: UInt64.self).littleEndian, pages))
            bytes += pages * 4096
        }
        let stream = UnsafeRawBufferPointer(rebasing: payload[dataOffset...])
        guard type == .compressedPages else {
            guard bytes == UInt64(stream.count) else { throw ImageError.malformed(what: "PAGES data does not fit its section", offset: start) }
            return Loaded(runs: runs, data: stream)
        }
        // A frame never holds more than a section could (the table bounds it).
        guard bytes <= ImageFormat.maxSectionPayload else { throw ImageError.malformed(what: "ZPAGES table of \(bytes) bytes", offset: start) }
        let out = UnsafeMutableRawBufferPointer(rebasing: pages.ensure(Int(bytes))[0..<Int(bytes)])
        try decompressor.decompress(stream, into: out, at: start + UInt64(ImageFormat.sectionHeaderSize + dataOffset))
        return Loaded(runs: runs, data: UnsafeRawBufferPointer(out))
    }
}

/// Saved pages by address, through the INDEX: ordinary runs are read in
/// place, compressed ones through their section (the last one is kept, so
/// pages looked up in address order decompress each section once).
public final class PageLookup {
    public let index: ImageIndex
    private let loader: PagesSectionLoader
    private var cached: (start: UInt64, loaded: PagesSectionLoader.Loaded)?

    public init(index: ImageIndex, fd: Int32) {
        self.index = index
        loader = PagesSectionLoader(fd: fd)
    }

    /// The saved page holding `address` for `pid`; nil if not saved.
    public func page(pid: Int32, address: UInt64) throws -> [UInt8]? {
        let page = address & ~4095
        guard let run = index.runs(pid: pid, overlapping: page, page + 1).first(where: { $0.address <= page }) else { return nil }
        guard run.compressed else { return try ImageIndex.readAt(loader.fd, run.fileOffset + (page - run.address), 4096) }
        if cached?.start != run.fileOffset {
            guard let entry = index.sections.first(where: { $0.offset == run.fileOffset && $0.type == SectionType.compressedPages.rawValue }) else {
                throw ImageError.malformed(what: "INDEX run at 0x\(String(run.address, radix: 16)) names no ZPAGES section", offset: run.fileOffset)
            }
            cached = (run.fileOffset, try loader.load(entry))
        }
        guard let bytes = cached?.loaded.bytes(at: page, length: 4096) else {
            throw ImageError.malformed(what: "ZPAGES section does not hold page 0x\(String(page, radix: 16)) the INDEX puts there", offset: run.fileOffset)
        }
        return Array(bytes)
    }
}
