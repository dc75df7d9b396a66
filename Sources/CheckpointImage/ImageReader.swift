import Dispatch
import Glibc

/// Reads an image front to back from a file descriptor (file or pipe),
/// checking every header, length and checksum before handing anything out.
/// Sizes from the file are bounded before they are allocated.
public final class ImageReader: @unchecked Sendable {  // the read-ahead thread and the caller take turns (queue sync)
    public enum Section {
        case inventory(Inventory)
        case process(ProcessState)
        case zombie(ZombieState)
        case tree(TreeState)
        /// Valid until the next call to `next()`.
        case pages(PagesSection)
        case index
        case end
    }

    public struct PagesSection {
        public var pid: Int32
        public var runs: [PageRun]
        /// The runs' pages back to back.
        public var data: UnsafeRawBufferPointer
        /// Where the section starts in the file and its payload's length (for `PagesSectionLoader`).
        public var sectionStart: UInt64 = 0
        public var payloadLength = 0
        /// With `leaveFramesCompressed`: a ZPAGES section's zstd frame, not
        /// yet decompressed (`data` is then empty), and its file offset.
        public var frame: UnsafeRawBufferPointer?
        public var frameOffset: UInt64 = 0
        /// The bytes of all runs (the data's size once decompressed).
        public var byteCount: Int { runs.reduce(0) { $0 + Int($1.byteCount) } }

        public init(pid: Int32, runs: [PageRun], data: UnsafeRawBufferPointer, sectionStart: UInt64 = 0, payloadLength: Int = 0) {
            self.pid = pid; self.runs = runs; self.data = data
            self.sectionStart = sectionStart; self.payloadLength = payloadLength
        }
    }

    let fd: Int32
    /// The end of the section last handed out (the file header's end at first).
    public private(set) var offset: UInt64 = 0
    /// How far the descriptor has been read (ahead of `offset` while reading ahead).
    private var position: UInt64 = 0
    public let major: UInt16
    public let minor: UInt16
    public private(set) var finished = false
    /// When false, page data is skipped (seeking when possible) and not checksummed.
    public var loadPages = true
    private let buffer = ReusableBuffer()
    /// With `readAhead`: while a PAGES section is being used, the next ones
    /// are read and checked in file order on a thread of their own, and
    /// ZPAGES frames are decompressed on worker threads, several at once, so
    /// reading and decompressing the image overlap using its pages.
    public var readAhead = false
    /// With `readAhead`: ZPAGES frames are handed out as they are
    /// (`PagesSection.frame`), for a caller that decompresses them on
    /// threads of its own where the pages go (a restore's FrameFill).
    public var leaveFramesCompressed = false
    private let ahead = DispatchQueue(label: "swiftcr.image-read-ahead")
    /// One serial queue (one thread) per decompression worker, taken in turn:
    /// libdispatch sizes its shared concurrent pool by the CPUs the process
    /// may use when it starts it, which is one in a restorer pinned to its CPU.
    private let decompressors = (0..<ImageReader.cores).map { DispatchQueue(label: "swiftcr.image-decompress.\($0)") }
    private var nextDecompressor = 0
    /// Sections being read ahead, oldest first (the caller's own list).
    private var inFlight: [ReadAheadSlot] = []
    /// The slot holding the section last handed out (valid until the next call), and idle ones.
    private var handedOut: ReadAheadSlot?
    private var idleSlots: [ReadAheadSlot] = []
    /// How many sections may be read ahead: one per core, and one more being read.
    private let readAheadDepth = ImageReader.cores + 1
    /// Worker threads a reader (or a restore's FrameFill) runs: the CPUs, at most four.
    public static let cores = max(1, min(4, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    /// END was read ahead: nothing more is scheduled (the caller's own flag).
    private var endScheduled = false
    /// Run first in each read-ahead and decompression job: a caller pinned
    /// to one CPU (the restorer) lets its workers use every CPU again.
    public var prepareWorkerThread: (@Sendable () -> Void)?

    public init(fd: Int32) throws {
        self.fd = fd
        var h = [UInt8](repeating: 0, count: ImageFormat.fileHeaderSize)
        let got = try Self.readFully(fd, &h, at: 0)
        guard got >= 8, Array(h[0..<8]) == ImageFormat.magic else {
            let shown = h[0..<min(got, 8)].map { (32...126).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
            throw ImageError.notAnImage(found: got == 0 ? "empty file" : "'\(shown)'")
        }
        guard got == h.count else { throw ImageError.truncated(offset: UInt64(got), expected: "the file header") }
        major = LE.get(UInt16.self, h, at: 8)
        minor = LE.get(UInt16.self, h, at: 10)
        guard major <= ImageFormat.major else {
            throw ImageError.unsupportedVersion(image: "\(major).\(minor)", reader: ImageFormat.versionString)
        }
        guard CRC32C.checksum(Array(h[0..<60])) == LE.get(UInt32.self, h, at: 60) else {
            throw ImageError.checksum(section: "file header", offset: 0)
        }
        let headerSize = Int(LE.get(UInt32.self, h, at: 12))
        guard headerSize >= ImageFormat.fileHeaderSize, headerSize <= 4096 else {
            throw ImageError.malformed(what: "file header size \(headerSize)", offset: 12)
        }
        position = UInt64(ImageFormat.fileHeaderSize)
        if headerSize > ImageFormat.fileHeaderSize {  // a newer minor's larger header: skip the rest
            var rest = [UInt8](repeating: 0, count: headerSize - ImageFormat.fileHeaderSize)
            try readExact(&rest, what: "the file header")
        }
        offset = position
    }

    /// A section read and checked, not yet decoded.
    fileprivate struct Raw: @unchecked Sendable {  // its buffers are handed between threads with their slot
        let type: SectionType
        let start: UInt64
        let end: UInt64
        let payload: UnsafeRawBufferPointer
        /// A ZPAGES section's pages, decompressed where it was read (the read-ahead thread).
        var pages: UnsafeRawBufferPointer?
        /// The payload's stored checksum, when it is still to be checked (read ahead: on a worker).
        var unchecked: UInt32?

        /// Checks a checksum left for later; the section is not handed out before.
        func check() throws {
            guard let stored = unchecked else { return }
            guard CRC32C.checksum(payload) == stored else {
                throw ImageError.checksum(section: type.name, offset: start)
            }
        }
    }

    public var version: String { "\(major).\(minor)" }

    /// The next section, or nil after END.
    public func next() throws -> Section? {
        let raw: Raw?
        if !inFlight.isEmpty {
            let slot = inFlight.removeFirst()
            slot.ready.wait()  // read (and decompressed): its result and buffers are ours now
            if let old = handedOut { idleSlots.append(old) }
            handedOut = slot
            defer { slot.result = nil }
            do { raw = try slot.result?.get() ?? nil } catch {
                // Nothing goes on reading the descriptor behind the caller's back.
                stopReadingAhead()
                throw error
            }
        } else {
            raw = try readRaw(into: buffer, pages: decompressed, decompressor: decompressor)
        }
        guard let raw else {
            endScheduled = true
            return nil
        }
        offset = raw.end
        // Slots read past END only find nothing (the read-ahead thread stops at END by itself).
        if raw.type == .end { endScheduled = true }
        let section = try decode(raw)
        if readAhead, case .pages = section { scheduleReadAhead() }
        return section
    }

    /// Waits for the sections being read ahead and drops them.
    private func stopReadingAhead() {
        endScheduled = true
        for slot in inFlight {
            slot.ready.wait()
            slot.result = nil
            idleSlots.append(slot)
        }
        inFlight = []
    }

    /// Keeps `readAheadDepth` sections on their way: each is read on the
    /// read-ahead thread in file order, and a ZPAGES frame then decompressed
    /// on a worker while the next one is read.
    private func scheduleReadAhead() {
        while inFlight.count < readAheadDepth && !endScheduled {
            let slot = idleSlots.popLast() ?? ReadAheadSlot()
            inFlight.append(slot)
            let decompressor = decompressors[nextDecompressor]
            nextDecompressor = (nextDecompressor + 1) % decompressors.count
            ahead.async { [self] in
                prepareWorkerThread?()
                // The checksum is left to a worker, so that this thread's next read overlaps it.
                let read = Result { try readRaw(into: slot.buffer, pages: slot.pages, decompressor: nil, checkLater: true) }
                guard case .success(let got?) = read else {
                    slot.result = read
                    slot.ready.signal()
                    return
                }
                decompressor.async { [self] in
                    prepareWorkerThread?()
                    slot.result = Result {
                        var raw = got
                        try raw.check()
                        raw.unchecked = nil
                        if raw.type == .compressedPages && !leaveFramesCompressed {
                            raw.pages = try decompress(raw.payload, section: raw.start, into: slot.pages, with: slot.decompressor)
                        }
                        return raw
                    }
                    slot.ready.signal()
                }
            }
        }
    }

    /// Reads sections up to one this reader knows (optional unknown ones are
    /// skipped) and checks its checksum; page data is left unread when
    /// `loadPages` is off (then `payload` holds the table only).
    /// Without a decompressor a ZPAGES frame is left for the caller to decompress.
    /// With `checkLater` the payload's checksum is returned unchecked (`Raw.check`).
    private func readRaw(into target: ReusableBuffer, pages pagesTarget: ReusableBuffer,
                         decompressor: PageDecompressor?, checkLater: Bool = false) throws -> Raw? {
        while !finished {
            let start = position
            var hb = [UInt8](repeating: 0, count: ImageFormat.sectionHeaderSize)
            try readExact(&hb, what: "a section header (the image is incomplete: no END section)")
            let header = try SectionHeader(decoding: hb, at: start)
            guard header.payloadLength <= ImageFormat.maxSectionPayload else {
                throw ImageError.malformed(what: "section of \(header.payloadLength) bytes exceeds the \(ImageFormat.maxSectionPayload) limit", offset: start)
            }
            let length = Int(header.payloadLength)
            guard let type = SectionType(rawValue: header.type) else {
                guard SectionFlags(rawValue: header.flags).contains(.optional) else {
                    throw ImageError.unknownRequiredSection(type: header.type, offset: start)
                }
                try skip(length + 4, what: "an optional section")
                continue
            }
            if type == .end { finished = true }
            if type.holdsPages && !loadPages {
                pagesWithoutData = try pagesTableOnly(length: length, at: start, compressed: type == .compressedPages)
                return Raw(type: type, start: start, end: position, payload: UnsafeRawBufferPointer(start: nil, count: 0))
            }
            let (payload, stored) = try readPayload(length: length, section: type.name, at: start, into: target)
            var raw = Raw(type: type, start: start, end: position, payload: payload, unchecked: stored)
            if !checkLater { try raw.check(); raw.unchecked = nil }
            if type == .compressedPages, let decompressor {
                raw.pages = try decompress(payload, section: start, into: pagesTarget, with: decompressor)
            }
            return raw
        }
        return nil
    }

    /// A PAGES table read without its data (`loadPages` off).
    private var pagesWithoutData: PagesSection?

    private func decode(_ raw: Raw) throws -> Section {
        let base = raw.start + UInt64(ImageFormat.sectionHeaderSize)
        let payload = raw.payload
        switch raw.type {
        case .inventory:
            return .inventory(try Inventory(decoding: RecordDecoder(Array(payload)[...], name: "inventory", base: base)))
        case .process:
            return .process(try ProcessState(decoding: RecordDecoder(Array(payload)[...], name: "process", base: base)))
        case .zombie:
            return .zombie(try ZombieState(decoding: RecordDecoder(Array(payload)[...], name: "zombie", base: base)))
        case .tree:
            return .tree(try TreeState(decoding: RecordDecoder(Array(payload)[...], name: "tree", base: base)))
        case .pages, .compressedPages:
            if !loadPages, let p = pagesWithoutData { return .pages(p) }
            let compressed = raw.type == .compressedPages
            let (pid, runs, dataOffset) = try parsePagesTable(payload, base: base, section: raw.start, compressed: compressed)
            var data = UnsafeRawBufferPointer(rebasing: payload[dataOffset...])
            var frame: UnsafeRawBufferPointer?
            if compressed {
                if let pages = raw.pages {
                    data = pages
                } else {
                    guard leaveFramesCompressed else { throw ImageError.malformed(what: "ZPAGES section not decompressed", offset: raw.start) }
                    frame = data
                    data = UnsafeRawBufferPointer(start: nil, count: 0)
                }
            }
            var section = PagesSection(pid: pid, runs: runs, data: data, sectionStart: raw.start, payloadLength: payload.count)
            section.frame = frame
            section.frameOffset = base + UInt64(dataOffset)
            return .pages(section)
        case .index:
            return .index
        case .end:
            return .end
        }
    }

    /// Reads the payload and its trailing CRC into a reusable buffer (for `Raw.check`).
    /// The payload lands at the buffer offset that has the file offset's
    /// place in its page, so page data (page aligned in the file) is page
    /// aligned in memory: UFFDIO_COPY from a source that is not runs at a
    /// third to half the speed here (each page read across two).
    private func readPayload(length: Int, section: String, at start: UInt64, into reusable: ReusableBuffer) throws -> (UnsafeRawBufferPointer, UInt32) {
        let pad = Int((start + UInt64(ImageFormat.sectionHeaderSize)) % 4096)
        let buffer = reusable.ensure(pad + length + 4)
        let view = UnsafeMutableRawBufferPointer(rebasing: buffer[pad..<(pad + length + 4)])
        try readExact(view, what: "the rest of a \(section) section")
        let payload = UnsafeRawBufferPointer(rebasing: buffer[pad..<(pad + length)])
        return (payload, view.loadUnaligned(fromByteOffset: length, as: UInt32.self).littleEndian)
    }

    /// A ZPAGES section's pages, decompressed, when read without read-ahead.
    private let decompressed = ReusableBuffer()
    /// Used on the caller's thread when nothing is read ahead.
    private let decompressor = PageDecompressor()

    /// Decompresses a checked ZPAGES payload's frame into `target` (grown as needed).
    /// No state of the reader's: workers run it for several sections at once.
    private func decompress(_ payload: UnsafeRawBufferPointer, section start: UInt64,
                            into reusable: ReusableBuffer, with decompressor: PageDecompressor) throws -> UnsafeRawBufferPointer {
        let base = start + UInt64(ImageFormat.sectionHeaderSize)
        let (_, runs, dataOffset) = try parsePagesTable(payload, base: base, section: start, compressed: true)
        let bytes = Int(runs.reduce(0) { $0 + $1.byteCount })
        let target = reusable.ensure(bytes)
        let out = UnsafeMutableRawBufferPointer(rebasing: target[0..<bytes])
        try decompressor.decompress(UnsafeRawBufferPointer(rebasing: payload[dataOffset...]), into: out, at: base + UInt64(dataOffset))
        return UnsafeRawBufferPointer(out)
    }

    private func parsePagesTable(_ payload: UnsafeRawBufferPointer, base: UInt64, section: UInt64, compressed: Bool) throws -> (Int32, [PageRun], Int) {
        guard payload.count >= 16 else { throw ImageError.malformed(what: "PAGES section shorter than its table header", offset: base) }
        let pid = Int32(bitPattern: payload.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian)
        let count = Int(payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian)
        let dataOffset = payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian
        guard UInt64(count) <= (UInt64(payload.count) - 16) / 16, dataOffset >= UInt64(16 + count * 16),
              dataOffset <= UInt64(payload.count) else {
            throw ImageError.malformed(what: "PAGES table of \(count) runs does not fit its section", offset: base)
        }
        var runs: [PageRun] = []
        var fileOffset = base + dataOffset
        var total: UInt64 = 0
        for i in 0..<count {
            let address = payload.loadUnaligned(fromByteOffset: 16 + i * 16, as: UInt64.self).littleEndian
            let pages = payload.loadUnaligned(fromByteOffset: 24 + i * 16, as: UInt64.self).littleEndian
            guard address % 4096 == 0, pages > 0, pages <= (UInt64.max - address) / 4096 else {
                throw ImageError.malformed(what: "bad page run 0x\(String(address, radix: 16)) x \(pages)", offset: base + UInt64(16 + i * 16))
            }
            runs.append(PageRun(pid: pid, address: address, pageCount: pages, fileOffset: compressed ? section : fileOffset, compressed: compressed))
            fileOffset += pages * 4096
            total += pages * 4096
        }
        // A frame's size says nothing of its pages (the decompression checks those).
        guard compressed ? total <= ImageFormat.maxSectionPayload : total == UInt64(payload.count) - dataOffset else {
            throw ImageError.malformed(what: "PAGES table describes \(total) bytes, section holds \(UInt64(payload.count) - dataOffset)", offset: base)
        }
        return (pid, runs, Int(dataOffset))
    }

    /// Without page loading: read the run table, then seek (or read) past the data.
    private func pagesTableOnly(length: Int, at start: UInt64, compressed: Bool) throws -> PagesSection {
        let base = start + UInt64(ImageFormat.sectionHeaderSize)
        var head = [UInt8](repeating: 0, count: min(16, length))
        try readExact(&head, what: "a PAGES table")
        guard head.count == 16 else { throw ImageError.malformed(what: "PAGES section shorter than its table header", offset: base) }
        let count = Int(LE.get(UInt32.self, head, at: 4))
        guard count <= (length - 16) / 16 else { throw ImageError.malformed(what: "PAGES table of \(count) runs does not fit", offset: base) }
        var table = [UInt8](repeating: 0, count: count * 16)
        try readExact(&table, what: "a PAGES table")
        let tableBytes = head + table
        try skip(length - tableBytes.count + 4, what: "page data")
        let (pid, runs, _) = try tableBytes.withUnsafeBytes { raw -> (Int32, [PageRun], Int) in
            try parsePagesTableShape(raw, declaredLength: length, base: base, section: start, compressed: compressed)
        }
        return PagesSection(pid: pid, runs: runs, data: UnsafeRawBufferPointer(start: nil, count: 0), sectionStart: start, payloadLength: length)
    }

    /// Like parsePagesTable but for a table read without its data.
    private func parsePagesTableShape(_ table: UnsafeRawBufferPointer, declaredLength: Int, base: UInt64, section: UInt64,
                                      compressed: Bool) throws -> (Int32, [PageRun], Int) {
        let pid = Int32(bitPattern: table.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian)
        let count = Int(table.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian)
        let dataOffset = table.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian
        guard dataOffset >= UInt64(16 + count * 16), dataOffset <= UInt64(declaredLength) else {
            throw ImageError.malformed(what: "PAGES data offset \(dataOffset) out of range", offset: base)
        }
        var runs: [PageRun] = []
        var fileOffset = base + dataOffset
        for i in 0..<count {
            let address = table.loadUnaligned(fromByteOffset: 16 + i * 16, as: UInt64.self).littleEndian
            let pages = table.loadUnaligned(fromByteOffset: 24 + i * 16, as: UInt64.self).littleEndian
            let limit = compressed ? ImageFormat.maxSectionPayload : UInt64(declaredLength)
            guard address % 4096 == 0, pages > 0, pages <= limit / 4096 else {
                throw ImageError.malformed(what: "bad page run 0x\(String(address, radix: 16)) x \(pages)", offset: base + UInt64(16 + i * 16))
            }
            runs.append(PageRun(pid: pid, address: address, pageCount: pages, fileOffset: compressed ? section : fileOffset, compressed: compressed))
            fileOffset += pages * 4096
        }
        return (pid, runs, Int(dataOffset))
    }

    private func skip(_ count: Int, what: String) throws {
        if lseek(fd, off_t(count), SEEK_CUR) >= 0 {
            position += UInt64(count)
            var st = stat()
            if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, UInt64(st.st_size) < position {
                throw ImageError.truncated(offset: UInt64(st.st_size), expected: what)
            }
            return
        }
        var left = count
        var scratch = [UInt8](repeating: 0, count: min(count, 1 << 20))
        while left > 0 {
            let n = min(left, scratch.count)
            try scratch.withUnsafeMutableBytes { try readExact(UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), what: what) }
            left -= n
        }
    }

    private func readExact(_ bytes: inout [UInt8], what: String) throws {
        try bytes.withUnsafeMutableBytes { try readExact($0, what: what) }
    }

    private func readExact(_ buffer: UnsafeMutableRawBufferPointer, what: String) throws {
        let got = try FileIO.read(fd, into: buffer)
        guard got == buffer.count else { throw ImageError.truncated(offset: position + UInt64(got), expected: what) }
        position += UInt64(got)
    }

    static func readFully(_ fd: Int32, _ bytes: inout [UInt8], at: Int) throws -> Int {
        try bytes.withUnsafeMutableBytes { try FileIO.read(fd, into: $0) }
    }
}

extension ImageReader {
    /// One section on its way through the read-ahead: its payload and
    /// decompressed pages, each slot with its own buffers and zstd context.
    /// Filled by the read-ahead thread (then a decompression worker), and
    /// the caller's once `ready` has been waited for.
    fileprivate final class ReadAheadSlot: @unchecked Sendable {
        let buffer = ReusableBuffer()
        let pages = ReusableBuffer()
        let decompressor = PageDecompressor()
        var result: Result<Raw?, Error>?
        let ready = DispatchSemaphore(value: 0)
    }
}

