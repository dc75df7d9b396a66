import Glibc

/// `swiftcr verify` and cr_restart's check before it changes anything:
/// every checksum and every structural invariant of an image, reported as
/// one problem per line with the section and byte offset. Never trusts a
/// size or count from the file before checking it against the file.
public enum ImageVerifier {
    public struct Problem: CustomStringConvertible, Equatable, Sendable {
        public var section: String
        public var offset: UInt64
        public var what: String
        public var description: String { "\(section) at byte \(offset): \(what)" }
    }

    /// `trusting`: start offsets of PAGES sections whose payload checksum the
    /// writer already checked by reading them back; their headers are still checked.
    /// `ownFile`: no one else can reach the file (a checkpoint's, before its
    /// commit), so large payloads are checked where they lie (mapped).
    public static func verify(path: String, trusting: Set<UInt64> = [], ownFile: Bool = false) -> [Problem] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [Problem(section: "file", offset: 0, what: "\(path): \(String(cString: strerror(errno)))")] }
        defer { close(fd) }
        return verify(fd: fd, trusting: trusting, ownFile: ownFile)
    }

    /// Checks a seekable image: (1) every section's checksum, going past
    /// damaged payloads while their headers hold; (2) decoding and the
    /// invariants between sections; (3) the INDEX against the sections.
    public static func verify(fd: Int32, trusting: Set<UInt64> = [], ownFile: Bool = false) -> [Problem] {
        var (problems, sectionStarts) = checksums(fd, trusting: trusting, inPlace: ownFile)
        guard problems.isEmpty else { return problems }
        let image: LoadedImage
        do {
            guard lseek(fd, 0, SEEK_SET) == 0 else { return [Problem(section: "file", offset: 0, what: "not seekable")] }
            image = try LoadedImage.load(fd: fd, verify: false)
        } catch let e as ImageError {
            return [problem(e)]
        } catch {
            return [Problem(section: "file", offset: 0, what: "\(error)")]
        }
        problems += invariants(image)
        do {
            let index = try ImageIndex.load(fd: fd)
            if index.pageRuns.map({ [UInt64(UInt32(bitPattern: $0.pid)), $0.address, $0.pageCount, $0.fileOffset] })
                != image.pageRuns.map({ [UInt64(UInt32(bitPattern: $0.pid)), $0.address, $0.pageCount, $0.fileOffset] }) {
                problems.append(Problem(section: "INDEX", offset: 0, what: "its page runs differ from the PAGES sections"))
            }
            for s in index.sections where s.type == SectionType.pages.rawValue || s.type == SectionType.process.rawValue {
                if !sectionStarts.contains(s.offset) {
                    problems.append(Problem(section: "INDEX", offset: s.offset, what: "lists a section where there is none"))
                }
            }
        } catch let e as ImageError {
            problems.append(problem(e))
        } catch {}
        return problems
    }

    static func problem(_ e: ImageError) -> Problem {
        switch e {
        case .checksum(let section, let offset): return Problem(section: section, offset: offset, what: "checksum mismatch")
        case .malformed(let what, let offset): return Problem(section: "record", offset: offset, what: what)
        case .truncated(let offset, let expected): return Problem(section: "file", offset: offset, what: "ends early, expected \(expected)")
        case .unknownRequiredSection(let type, let offset): return Problem(section: "section", offset: offset, what: "unknown required section type \(type)")
        case .notAnImage: return Problem(section: "file header", offset: 0, what: e.description)
        case .unsupportedVersion: return Problem(section: "file header", offset: 8, what: e.description)
        case .io(let message, _): return Problem(section: "file", offset: 0, what: message)
        }
    }

    /// Pass 1: the file header, then each section header and payload checksum.
    static func checksums(_ fd: Int32, trusting: Set<UInt64> = [], inPlace: Bool = false) -> ([Problem], Set<UInt64>) {
        var large: [PayloadChecksums.Job] = []
        let (problems, sectionStarts) = walk(fd, trusting: trusting, deferring: &large)
        let bad = PayloadChecksums.failing(large, fd: fd, inPlace: inPlace).map {
            Problem(section: $0.section, offset: $0.offset, what: "checksum mismatch (\($0.length)-byte payload)")
        }
        // In order of offset among the others'.
        return (bad.isEmpty ? problems : (problems + bad).sorted { $0.offset < $1.offset }, sectionStarts)
    }

    /// The walk of pass 1; the large payloads of a regular file are left in `large`.
    private static func walk(_ fd: Int32, trusting: Set<UInt64>, deferring large: inout [PayloadChecksums.Job]) -> ([Problem], Set<UInt64>) {
        var problems: [Problem] = []
        var sectionStarts: Set<UInt64> = []
        var st = stat()
        guard fstat(fd, &st) == 0 else { return ([Problem(section: "file", offset: 0, what: String(cString: strerror(errno)))], []) }
        let size = UInt64(st.st_size)
        do {
            _ = try ImageReader(fd: fd)  // magic, version, header checksum
        } catch let e as ImageError {
            return ([problem(e)], [])
        } catch { return ([], []) }
        guard let header = try? ImageIndex.readAt(fd, 0, ImageFormat.fileHeaderSize) else {
            return ([Problem(section: "file header", offset: 0, what: "unreadable")], [])
        }
        var offset = UInt64(LE.get(UInt32.self, header, at: 12))
        var sawEnd = false
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while offset < size {
            guard size - offset >= UInt64(ImageFormat.sectionHeaderSize) else {
                problems.append(Problem(section: "file", offset: offset, what: "\(size - offset) stray bytes where a section header should be"))
                break
            }
            guard let hb = try? ImageIndex.readAt(fd, offset, ImageFormat.sectionHeaderSize), let h = try? SectionHeader(decoding: hb, at: offset) else {
                problems.append(Problem(section: "section header", offset: offset, what: "checksum mismatch; the sections after it cannot be found"))
                return (problems, sectionStarts)
            }
            let name = SectionType(rawValue: h.type)?.name ?? "section type \(h.type)"
            let payloadStart = offset + UInt64(ImageFormat.sectionHeaderSize)
            guard h.payloadLength <= ImageFormat.maxSectionPayload, h.payloadLength + 4 <= size - payloadStart else {
                problems.append(Problem(section: name, offset: offset, what: "claims \(h.payloadLength) bytes, the file has \(size - payloadStart) after its header"))
                return (problems, sectionStarts)
            }
            sectionStarts.insert(offset)
            if h.type == SectionType.pages.rawValue && trusting.contains(offset) {
                offset = payloadStart + h.payloadLength + 4
                continue
            }
            // Large payloads (pages) are checked several at once, after this walk.
            if h.payloadLength >= 65536 && PayloadChecksums.mappable(fd, upTo: payloadStart + h.payloadLength + 4) {
                large.append(PayloadChecksums.Job(section: name, offset: offset, payloadStart: payloadStart, length: Int(h.payloadLength)))
                offset = payloadStart + h.payloadLength + 4
                continue
            }
            var crc = CRC32C()
            var done: UInt64 = 0
            while done < h.payloadLength {
                let n = Int(min(UInt64(buffer.count), h.payloadLength - done))
                let got = buffer.withUnsafeMutableBytes { (try? FileIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), at: payloadStart + done)) ?? -1 }
                guard got == n else { problems.append(Problem(section: name, offset: offset, what: "unreadable payload")); return (problems, sectionStarts) }
                buffer.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                done += UInt64(n)
            }
            let stored = (try? ImageIndex.readAt(fd, payloadStart + h.payloadLength, 4)) ?? [0, 0, 0, 0]
            if crc.value != LE.get(UInt32.self, stored, at: 0) {
                problems.append(Problem(section: name, offset: offset, what: "checksum mismatch (\(h.payloadLength)-byte payload)"))
            }
            offset = payloadStart + h.payloadLength + 4
            if h.type == SectionType.end.rawValue {
                sawEnd = true
                if offset != size { problems.append(Problem(section: "END", offset: offset, what: "\(size - offset) bytes follow the END section")) }
                break
            }
        }
        if !sawEnd { problems.append(Problem(section: "file", offset: size, what: "no END section: the image is incomplete")) }
        return (problems, sectionStarts)
    }

    /// What must hold between the PROCESS and ZOMBIE records before anything
    /// is built from them (cr_restart checks this even on a stream): no ID,
    /// thread, signal or descriptor twice, no overlapping mappings, the main
    /// thread first, every zombie's parent present.
    public static func recordProblems(processes: [ProcessState], zombies: [ZombieState]) -> [Problem] {
        var problems: [Problem] = []
        var pids: Set<Int32> = [], tids: Set<Int32> = []
        func problem(_ what: String, _ section: String = "PROCESS") { problems.append(Problem(section: section, offset: 0, what: what)) }
        for p in processes {
            if !pids.insert(p.pid).inserted { problem("process \(p.pid) appears twice") }
            if p.threads.first?.tid != p.pid { problem("process \(p.pid) does not list its main thread first") }
            for t in p.threads where !tids.insert(t.tid).inserted { problem("thread \(t.tid) appears twice (process \(p.pid))") }
            var signals: Set<Int32> = []
            for a in p.signalActions {
                if !(1...64).contains(a.signal) { problem("process \(p.pid): signal action for signal \(a.signal), which does not exist") }
                if !signals.insert(a.signal).inserted { problem("process \(p.pid): signal \(a.signal) has two actions") }
            }
            var fds: Set<Int32> = []
            for f in p.files {
                if f.fd < 0 { problem("process \(p.pid): descriptor \(f.fd) is negative") }
                if !fds.insert(f.fd).inserted { problem("process \(p.pid): descriptor \(f.fd) appears twice") }
            }
            let inFlight = Set(p.files.filter(\.inFlight).map(\.fd))
            for f in p.files {
                for m in f.unixSocket?.passed ?? [] where !m.fds.allSatisfy(inFlight.contains) {
                    problem("process \(p.pid): fd \(f.fd)'s message \(m.message) carries files \(m.fds) that are not its in-flight files")
                }
            }
            let areas = p.mappings.sorted { $0.start < $1.start }
            for (a, b) in zip(areas, areas.dropFirst()) where b.start < a.end {
                problem("process \(p.pid): mappings 0x\(String(a.start, radix: 16))-0x\(String(a.end, radix: 16)) and 0x\(String(b.start, radix: 16))-0x\(String(b.end, radix: 16)) overlap")
            }
        }
        for z in zombies {
            if !pids.contains(z.ppid) { problem("zombie \(z.pid)'s parent \(z.ppid) is not in the image", "ZOMBIE") }
            if !tids.insert(z.pid).inserted { problem("zombie \(z.pid) has the ID of another process or thread in the image", "ZOMBIE") }
        }
        return problems
    }

    /// Pass 2: what must hold between records.
    static func invariants(_ image: LoadedImage) -> [Problem] {
        var problems = recordProblems(processes: image.processes, zombies: image.zombies)
        // Each process's mappings by address, once: a run is then found by binary search.
        let areasOf = Dictionary(image.processes.map { p in (p.pid, p.mappings.map { Area(start: $0.start, end: $0.end) }.sorted { $0.start < $1.start }) },
                                 uniquingKeysWith: { a, _ in a })
        var previous: [Int32: UInt64] = [:]
        for r in image.pageRuns {
            guard let areas = areasOf[r.pid] else {
                problems.append(Problem(section: "PAGES", offset: r.fileOffset, what: "pages for process \(r.pid), which the image does not hold"))
                continue
            }
            if let last = previous[r.pid], r.address < last {
                problems.append(Problem(section: "PAGES", offset: r.fileOffset, what: "run at 0x\(String(r.address, radix: 16)) overlaps or precedes the previous run"))
            }
            previous[r.pid] = r.end
            if !contiguousCover(areas, r.address, r.end) {
                problems.append(Problem(section: "PAGES", offset: r.fileOffset, what: "run 0x\(String(r.address, radix: 16))-0x\(String(r.end, radix: 16)) of process \(r.pid) lies outside its mappings"))
            }
        }
        return problems
    }

    struct Area { var start: UInt64; var end: UInt64 }

    /// A run may span adjacent mappings (the dumper merges them): covered if
    /// no gap lies inside it. `areas` are sorted by start.
    static func contiguousCover(_ areas: [Area], _ start: UInt64, _ end: UInt64) -> Bool {
        var at = start
        while at < end {
            var low = 0, high = areas.count  // the last area starting at or before `at`
            while low < high {
                let mid = (low + high) / 2
                if areas[mid].start <= at { low = mid + 1 } else { high = mid }
            }
            guard low > 0, areas[low - 1].end > at else { return false }
            at = areas[low - 1].end
        }
        return true
    }
}
