import Glibc

/// Streams an image to a file descriptor (a file or a pipe): header, sections
/// as they come, then the INDEX and END sections. Page data is written straight
/// from the caller's buffer, landing at 4 KiB-aligned offsets.
public final class ImageWriter {
    let fd: Int32
    /// Bytes written to the descriptor so far.
    public private(set) var offset: UInt64 = 0
    /// Where the next section will start once everything prepared is written.
    private var planned: UInt64 = 0
    var sections: [(type: UInt32, offset: UInt64, length: UInt64)] = []
    public private(set) var pageRuns: [PageRun] = []
    public private(set) var pageBytes: UInt64 = 0
    /// The file as written so far, mapped for `readBack`: one set of
    /// mappings per thread that checks (FileWindows is one thread's, and
    /// each checks its sections in file order).
    private lazy var readBackWindows = FileWindows(fd: fd)
    private lazy var writerReadBackWindows = FileWindows(fd: fd)

    /// The thread a section is read back on.
    public enum ReadBackThread: Sendable { case reading, writing }

    public init(fd: Int32) throws {
        self.fd = fd
        var h = ImageFormat.magic
        LE.put(ImageFormat.major, into: &h)
        LE.put(ImageFormat.minor, into: &h)
        LE.put(UInt32(ImageFormat.fileHeaderSize), into: &h)
        h += [UInt8](repeating: 0, count: ImageFormat.fileHeaderSize - 4 - h.count)
        LE.put(CRC32C.checksum(h), into: &h)
        planned = UInt64(h.count)
        try emit([h])
    }

    public func write(_ inventory: Inventory) throws {
        try writeSection(.inventory, inventory.encode())
    }

    public func write(_ process: ProcessState) throws {
        try writeSection(.process, process.encode())
    }

    public func write(_ zombie: ZombieState) throws {
        try writeSection(.zombie, zombie.encode())
    }

    public func write(_ tree: TreeState) throws {
        try writeSection(.tree, tree.encode())
    }

    /// One PAGES section ready to be written: planned (offsets, index, CRC)
    /// but not yet on the file descriptor. `data` must stay valid until written.
    public struct PreparedPages: @unchecked Sendable {
        let prefix: [UInt8]
        let data: UnsafeRawBufferPointer
        let trailer: [UInt8]
        /// Where the section starts in the file.
        public let offset: UInt64
    }

    /// One PAGES section: a table of runs, zero padding, then the pages.
    /// `data` holds the runs' pages back to back.
    public func writePages(pid: Int32, runs: [(address: UInt64, pages: UInt64)], data: UnsafeRawBufferPointer) throws {
        try commit(try preparePages(pid: pid, runs: runs, data: data))
    }

    /// Plans a PAGES section in stream order. Preparing and committing may run
    /// on different threads (one preparing while the other writes), as long as
    /// sections are prepared in order and committed in the same order.
    /// With `frame`, the zstd frame of `data` (PageCompressor) is written
    /// instead, as a ZPAGES section.
    public func preparePages(pid: Int32, runs: [(address: UInt64, pages: UInt64)], data: UnsafeRawBufferPointer,
                             frame: UnsafeRawBufferPointer? = nil) throws -> PreparedPages {
        let totalPages = runs.reduce(0) { $0 + $1.pages }
        guard totalPages * 4096 == UInt64(data.count) else {
            throw ImageError.io("internal: page runs describe \(totalPages) pages but \(data.count) bytes were given")
        }
        let start = planned
        let payloadStart = start + UInt64(ImageFormat.sectionHeaderSize)
        var table: [UInt8] = []
        LE.put(UInt32(bitPattern: pid), into: &table)
        LE.put(UInt32(runs.count), into: &table)
        let tableSize = UInt64(16 + runs.count * 16)
        let unaligned = payloadStart + tableSize
        let pad = (ImageFormat.pageAlignment - unaligned % ImageFormat.pageAlignment) % ImageFormat.pageAlignment
        let dataOffset = tableSize + pad
        LE.put(dataOffset, into: &table)
        var fileOffset = payloadStart + dataOffset
        for r in runs {
            LE.put(r.address, into: &table)
            LE.put(r.pages, into: &table)
            // A compressed run is found through its section (its bytes are in the frame).
            pageRuns.append(PageRun(pid: pid, address: r.address, pageCount: r.pages, fileOffset: frame == nil ? fileOffset : start,
                                    compressed: frame != nil))
            fileOffset += r.pages * 4096
        }
        table += [UInt8](repeating: 0, count: Int(pad))
        let stored = frame ?? data
        var crc = CRC32C()
        crc.update(table)
        crc.update(stored)
        let length = UInt64(table.count + stored.count)
        let type = frame == nil ? SectionType.pages : .compressedPages
        let header = SectionHeader(type: type.rawValue, flags: 0, payloadLength: length)
        sections.append((type.rawValue, start, length))
        var trailer: [UInt8] = []
        LE.put(crc.value, into: &trailer)
        planned = start + UInt64(ImageFormat.sectionHeaderSize) + length + 4
        pageBytes += UInt64(data.count)
        return PreparedPages(prefix: header.encode() + table, data: stored, trailer: trailer, offset: start)
    }

    /// Writes a prepared section; touches only the file descriptor and `offset`.
    public func commit(_ p: PreparedPages) throws {
        try emit([p.prefix], data: p.data, trailer: p.trailer)
    }

    /// Reads a committed PAGES section back from the file (its page-cache
    /// copy) and checks it against the checksum it was written with: what
    /// reached the file is what was checksummed. `buffer` must hold the payload.
    public func readBack(_ p: PreparedPages, into buffer: UnsafeMutableRawBufferPointer, on thread: ReadBackThread = .reading) throws {
        let payloadStart = p.offset + UInt64(ImageFormat.sectionHeaderSize)
        let length = p.prefix.count - ImageFormat.sectionHeaderSize + p.data.count
        guard length <= buffer.count else { throw ImageError.io("internal: read-back buffer of \(buffer.count) bytes for a \(length)-byte payload") }
        var crc = CRC32C()
        // Mapped, the page cache is checksummed where it lies (no copy: the
        // copy was a fifth of a dump's time); read() where the file cannot be mapped.
        let windows = thread == .reading ? readBackWindows : writerReadBackWindows
        if !windows.update(&crc, from: payloadStart, length: length) {
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
            guard try FileIO.read(fd, into: slice, at: payloadStart) == length else {
                throw ImageError.io("PAGES at byte \(p.offset): the file is shorter than what was written")
            }
            crc.update(UnsafeRawBufferPointer(slice))
        }
        guard crc.value == LE.get(UInt32.self, p.trailer, at: 0) else {
            throw ImageError.io("PAGES at byte \(p.offset): read back, its \(length) bytes do not match their checksum")
        }
    }

    /// Writes the INDEX and END sections. The image is complete only after this.
    public func finish() throws {
        guard planned == offset else { throw ImageError.io("internal: finish before prepared pages were committed") }
        let indexOffset = offset
        var payload: [UInt8] = []
        LE.put(UInt32(sections.count), into: &payload)
        LE.put(UInt32(pageRuns.count), into: &payload)
        for s in sections {
            LE.put(s.type, into: &payload)
            LE.put(UInt32(0), into: &payload)
            LE.put(s.offset, into: &payload)
            LE.put(s.length, into: &payload)
        }
        for r in pageRuns {
            LE.put(UInt32(bitPattern: r.pid), into: &payload)
            LE.put(UInt32(r.compressed ? 1 : 0), into: &payload)  // run flags: 1 = in a ZPAGES section
            LE.put(r.address, into: &payload)
            LE.put(r.pageCount, into: &payload)
            LE.put(r.fileOffset, into: &payload)
        }
        try writeSection(.index, payload)
        var end: [UInt8] = []
        LE.put(indexOffset, into: &end)
        LE.put(UInt64(sections.count), into: &end)
        try writeSection(.end, end)
    }

    func writeSection(_ type: SectionType, _ payload: [UInt8], flags: SectionFlags = []) throws {
        guard planned == offset else { throw ImageError.io("internal: section written before prepared pages were committed") }
        let header = SectionHeader(type: type.rawValue, flags: flags.rawValue, payloadLength: UInt64(payload.count))
        sections.append((type.rawValue, offset, UInt64(payload.count)))
        planned = offset + UInt64(ImageFormat.sectionHeaderSize + payload.count + 4)
        var trailer: [UInt8] = []
        LE.put(CRC32C.checksum(payload), into: &trailer)
        try emit([header.encode() + payload + trailer])
    }

    /// writev of the pieces, continued after short writes.
    func emit(_ pieces: [[UInt8]], data: UnsafeRawBufferPointer? = nil, trailer: [UInt8] = []) throws {
        for p in pieces { try p.withUnsafeBytes { try writeAll($0) } }
        if let d = data { try writeAll(d) }
        if !trailer.isEmpty { try trailer.withUnsafeBytes { try writeAll($0) } }
    }

    func writeAll(_ buffer: UnsafeRawBufferPointer) throws {
        try FileIO.write(fd, buffer, at: offset) { offset += UInt64($0) }
    }
}
