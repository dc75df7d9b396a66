import Glibc

/// Random access to a seekable image: the END section at the file's tail
/// points at the INDEX, which lists every section and every page run.
public struct ImageIndex {
    public struct SectionEntry: Equatable, Sendable {
        public var type: UInt32, offset: UInt64, length: UInt64
    }

    public let sections: [SectionEntry]
    public let pageRuns: [PageRun]
    /// The CRC32C stored with the INDEX section (0 if not read from a file):
    /// an incremental image names its parent by it.
    public private(set) var checksum: UInt32 = 0
    /// Each process's runs by address, for lookups by binary search.
    private let runsByPID: [Int32: [PageRun]]

    public init(sections: [SectionEntry], pageRuns: [PageRun]) {
        self.sections = sections
        self.pageRuns = pageRuns
        runsByPID = Dictionary(grouping: pageRuns, by: \.pid).mapValues { $0.sorted { $0.address < $1.address } }
    }

    /// The runs of one process that overlap [start, end), by address.
    public func runs(pid: Int32, overlapping start: UInt64, _ end: UInt64) -> ArraySlice<PageRun> {
        let runs = runsByPID[pid] ?? []
        var low = 0, high = runs.count  // the first run ending after `start`
        while low < high {
            let mid = (low + high) / 2
            if runs[mid].end <= start { low = mid + 1 } else { high = mid }
        }
        var last = low
        while last < runs.count && runs[last].address < end { last += 1 }
        return runs[low..<last]
    }

    /// Size of the END section: header, 16-byte payload, CRC.
    static let endSectionSize = ImageFormat.sectionHeaderSize + 16 + 4

    public static func load(fd: Int32) throws -> ImageIndex {
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw ImageError.io("the image index needs a regular file")
        }
        let size = UInt64(st.st_size)
        guard size >= UInt64(ImageFormat.fileHeaderSize + endSectionSize) else {
            throw ImageError.truncated(offset: size, expected: "an END section at the end of the file")
        }
        let endAt = size - UInt64(endSectionSize)
        let end = try readAt(fd, endAt, endSectionSize)
        let header = try SectionHeader(decoding: Array(end[0..<32]), at: endAt)
        guard header.type == SectionType.end.rawValue, header.payloadLength == 16 else {
            throw ImageError.truncated(offset: size, expected: "an END section at the end of the file (the image is incomplete)")
        }
        guard CRC32C.checksum(Array(end[32..<48])) == LE.get(UInt32.self, end, at: 48) else {
            throw ImageError.checksum(section: "END", offset: endAt)
        }
        let indexAt = LE.get(UInt64.self, end, at: 32)
        guard indexAt >= UInt64(ImageFormat.fileHeaderSize), indexAt + UInt64(ImageFormat.sectionHeaderSize) <= endAt else {
            throw ImageError.malformed(what: "END points at index offset \(indexAt) outside the file", offset: endAt + 32)
        }
        let ih = try SectionHeader(decoding: try readAt(fd, indexAt, ImageFormat.sectionHeaderSize), at: indexAt)
        guard ih.type == SectionType.index.rawValue,
              ih.payloadLength <= endAt - indexAt - UInt64(ImageFormat.sectionHeaderSize) - 4 else {
            throw ImageError.malformed(what: "no INDEX section where END says", offset: indexAt)
        }
        let body = try readAt(fd, indexAt + 32, Int(ih.payloadLength) + 4)
        let payload = Array(body[0..<Int(ih.payloadLength)])
        let stored = LE.get(UInt32.self, body, at: payload.count)
        guard CRC32C.checksum(payload) == stored else {
            throw ImageError.checksum(section: "INDEX", offset: indexAt)
        }
        var index = try parse(payload, base: indexAt + 32, fileSize: size)
        index.checksum = stored
        return index
    }

    static func parse(_ p: [UInt8], base: UInt64, fileSize: UInt64) throws -> ImageIndex {
        guard p.count >= 8 else { throw ImageError.malformed(what: "INDEX shorter than its counts", offset: base) }
        let nSections = Int(LE.get(UInt32.self, p, at: 0)), nRuns = Int(LE.get(UInt32.self, p, at: 4))
        guard nSections <= (p.count - 8) / 24, nRuns <= (p.count - 8 - nSections * 24) / 32,
              8 + nSections * 24 + nRuns * 32 == p.count else {
            throw ImageError.malformed(what: "INDEX counts (\(nSections) sections, \(nRuns) runs) do not match its size", offset: base)
        }
        var sections: [SectionEntry] = []
        for i in 0..<nSections {
            let o = 8 + i * 24
            sections.append(SectionEntry(type: LE.get(UInt32.self, p, at: o), offset: LE.get(UInt64.self, p, at: o + 8),
                                         length: LE.get(UInt64.self, p, at: o + 16)))
        }
        var runs: [PageRun] = []
        for i in 0..<nRuns {
            let o = 8 + nSections * 24 + i * 32
            let flags = LE.get(UInt32.self, p, at: o + 4)
            let run = PageRun(pid: Int32(bitPattern: LE.get(UInt32.self, p, at: o)), address: LE.get(UInt64.self, p, at: o + 8),
                              pageCount: LE.get(UInt64.self, p, at: o + 16), fileOffset: LE.get(UInt64.self, p, at: o + 24),
                              compressed: flags & 1 != 0)
            guard flags & ~1 == 0 else { throw ImageError.malformed(what: "INDEX run \(i) has unknown flags \(flags)", offset: base + UInt64(o)) }
            // A compressed run points at its section's header; an ordinary one at its page data.
            let inside = run.compressed
                ? run.fileOffset <= fileSize - UInt64(ImageFormat.sectionHeaderSize) && run.pageCount <= UInt64.max / 4096
                : run.fileOffset % ImageFormat.pageAlignment == 0 && run.pageCount <= fileSize / 4096 && run.fileOffset <= fileSize - run.pageCount * 4096
            guard inside else {
                throw ImageError.malformed(what: "INDEX run \(i) points outside the file", offset: base + UInt64(o))
            }
            runs.append(run)
        }
        return ImageIndex(sections: sections, pageRuns: runs)
    }

    /// The PAGES section holding the page data at `fileOffset`.
    public func pagesSection(holding fileOffset: UInt64) -> SectionEntry? {
        let pages = sections.filter { SectionType(rawValue: $0.type)?.holdsPages == true }
        return pages.first { $0.offset <= fileOffset && fileOffset < $0.offset + UInt64(ImageFormat.sectionHeaderSize) + $0.length }
    }

    static func readAt(_ fd: Int32, _ offset: UInt64, _ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let got = try out.withUnsafeMutableBytes { try FileIO.read(fd, into: $0, at: offset) }
        guard got == count else { throw ImageError.truncated(offset: offset + UInt64(got), expected: "\(count) bytes") }
        return out
    }
}
