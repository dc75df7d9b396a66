import CheckpointImage
import Glibc
import LinuxKit

/// Copies a frozen process's saved pages into the image: pagemap picks the
/// candidate pages, process_vm_readv reads them in large batches, pages that
/// turn out to be all zero are dropped, the rest is written as PAGES sections.
struct MemoryDumper {
    let pid: pid_t
    let writer: ImageWriter
    /// Bytes read per batch: large enough for few system calls, small enough to stay in cache.
    var batchBytes = 4 << 20
    var progress: ((UInt64, UInt64) -> Void)?
    /// Read written sections back while waiting for the writer (the destination is a readable file).
    var readBack = false
    /// --compress: each batch becomes one zstd frame (a ZPAGES section),
    /// compressed on worker threads, several batches at once, while this
    /// thread reads the next and the writer thread writes the last.
    var compressors: CompressorPool?
    /// An incremental checkpoint's pages are copied here while the process
    /// is frozen and written after it runs again (`writeStaged`); what does
    /// not fit is written as it is read.
    var staging: StagingArea?
    /// Written pages the incremental scan copied already (into `staging`).
    var prefetched: PrefetchedPages?

    /// Pages copied into the staging area, not yet in the image.
    struct StagedBatch {
        var ranges: [(address: UInt64, length: Int, keepsZeroPages: Bool)]
        var bytes: UnsafeMutableRawBufferPointer
    }

    struct Stats {
        var candidatePages: UInt64 = 0, savedPages: UInt64 = 0, zeroPages: UInt64 = 0
        /// Sections already read back and checked.
        var checkedSections: [UInt64] = []
    }

    /// Pages to read. A zero page may be left out of the image only where the
    /// restored mapping starts out zero (anonymous and shared memory): in a
    /// private file mapping a page zeroed by the program would show the file.
    struct Candidate: Equatable {
        var address: UInt64
        var pages: UInt64
        var keepsZeroPages = false
        /// Pages that cannot be read are left out (zero) instead of failing the dump.
        var mayFault = false
        /// Anonymous pages mapped by more than one process (copy-on-write after
        /// fork): read through /proc/PID/mem, since process_vm_readv pins
        /// pages and the kernel unshares a shared page it pins, which would
        /// leave a process that runs on with two copies where it had one.
        var shared = false
    }

    /// What pagemap says of a process's memory: the runs of pages to read,
    /// and each mapping's guard pages (by mapping start) which hold no data.
    struct Plan {
        var runs: [Candidate] = []
        var guards: [UInt64: [UInt64]] = [:]
    }

    /// Runs of candidate pages, per mapping, from pagemap. A mapping listed
    /// in `only` (by start) is read in those ranges alone (an incremental
    /// checkpoint's written pages).
    func candidates(_ mappings: [(MapsEntry, Mapping)], only: [UInt64: [(start: UInt64, end: UInt64)]] = [:]) throws -> Plan {
        let pagemap = try Pagemap(pid: pid)
        defer { pagemap.close() }
        var plan = Plan()
        let window: UInt64 = 1 << 30  // read pagemap 1 GiB of address space at a time
        for (m, mapping) in mappings where mapping.kind != .vdso && mapping.kind != .kernelFixed {
            let kind = mapping.kind
            // MAP_DROPPABLE memory may be freed by the kernel at any moment, so a
            // program cannot count on it: it is not saved, and comes back zero (as CRIU does).
            let saves = (kind != .sharedFile || mapping.savedWhole) && !mapping.advice.contains(.droppable)
            let keepsZeroPages = kind == .privateFile || kind == .sharedFile || kind == .privateShared
            // A private mapping of a file that is gone (kept as anonymous
            // memory): pages never touched are in no page table, but their
            // bytes are the file's and exist nowhere else. Read it all.
            let goneFile = kind == .anonymous && m.isFileBacked
            // Shared memory is read whole, but a mapping may reach past the object's end (SIGBUS there).
            let mayFault = kind == .sharedAnonymous || kind == .sysvShm || goneFile
            var start = m.start
            // Saved whole: every page the file reaches, then the usual rule past its end.
            if mapping.savedWhole && mapping.fileSpan > 0 {
                plan.runs.append(Candidate(address: m.start, pages: mapping.fileSpan / 4096, keepsZeroPages: true))
                start += mapping.fileSpan
            }
            var guards: [UInt64] = []
            var ranges = only[m.start] ?? [(start, m.end)]
            ranges.reverse()
            while let range = ranges.last {
                if start < range.start { start = range.start }
                guard start < range.end else { ranges.removeLast(); continue }
                let end = min(range.end, start + window)
                let entries = try pagemap.entries(start: start, end: end)
                let firstPage = (start - m.start) / 4096
                Self.runs(of: entries, where: { $0 & Pagemap.guardRegion != 0 }) { i, n in
                    if guards.count >= 2 && guards[guards.count - 2] + guards[guards.count - 1] == firstPage + UInt64(i) {
                        guards[guards.count - 1] += UInt64(n)
                    } else {
                        guards += [firstPage + UInt64(i), UInt64(n)]
                    }
                }
                if saves {
                    let privateKind = kind == .anonymous || kind == .privateFile || kind == .privateShared
                    var found: [Candidate] = []
                    for shared in privateKind ? [false, true] : [false] {
                        Self.runs(of: entries, where: { e in
                            (goneFile ? e & Pagemap.guardRegion == 0 : MappingClassifier.shouldSave(e, kind: kind))
                                && (!privateKind || Self.sharedAnonymousPage(e) == shared)
                        }) { i, n in
                            found.append(Candidate(address: start + UInt64(i) * 4096, pages: UInt64(n), keepsZeroPages: keepsZeroPages,
                                                   mayFault: mayFault, shared: shared))
                        }
                    }
                    plan.runs += found.sorted { $0.address < $1.address }
                }
                start = end
            }
            if !guards.isEmpty { plan.guards[m.start] = guards }
        }
        return plan
    }

    /// The runs less the pages in `holes` (pages another image or process
    /// supplies); both sorted by address, not overlapping: one pass over both.
    static func subtract(_ runs: [Candidate], _ holes: [(address: UInt64, length: UInt64)]) -> [Candidate] {
        guard !holes.isEmpty else { return runs }
        var out: [Candidate] = []
        var k = 0
        for run in runs {
            var at = run.address
            let end = run.address + run.pages * 4096
            while k < holes.count && holes[k].address + holes[k].length <= at { k += 1 }
            var j = k
            while at < end {
                guard j < holes.count, holes[j].address < end else { break }
                if holes[j].address > at {
                    var piece = run
                    piece.address = at
                    piece.pages = (holes[j].address - at) / 4096
                    out.append(piece)
                }
                at = max(at, holes[j].address + holes[j].length)
                j += 1
            }
            if at < end {
                var piece = run
                piece.address = at
                piece.pages = (end - at) / 4096
                out.append(piece)
            }
        }
        return out
    }

    /// A present private anonymous page that another process maps too.
    static func sharedAnonymousPage(_ e: UInt64) -> Bool {
        e & Pagemap.present != 0 && e & Pagemap.fileOrShared == 0 && e & Pagemap.exclusive == 0
    }

    /// Calls `body(first, count)` for each maximal run of entries matching `test`.
    static func runs(of entries: [UInt64], where test: (UInt64) -> Bool, _ body: (Int, Int) -> Void) {
        var i = 0
        while i < entries.count {
            guard test(entries[i]) else { i += 1; continue }
            var j = i + 1
            while j < entries.count && test(entries[j]) { j += 1 }
            body(i, j - i)
            i = j
        }
    }

    /// Batches move through a pool: this thread takes a free buffer, reads,
    /// zero-checks and checksums into it, and hands it to the writer thread;
    /// only the finished write of that section gives the buffer back. A buffer
    /// therefore has one owner at a time and is never refilled between its
    /// checksum and its write.
    func dump(_ runs: [Candidate]) throws -> Stats {
        var staged: [StagedBatch] = []
        let stats = try dump(runs, staged: &staged)
        guard staged.isEmpty else { throw CheckpointError(EINVAL, "internal: pages staged by a dump that writes them at once") }
        return stats
    }

    /// As `dump`, leaving in `staged` the batches copied into the staging
    /// area, for `writeStaged` once the process runs again. When the area
    /// is full, the batches staged so far are written first: each
    /// process's runs stay in address order in the image.
    func dump(_ runs: [Candidate], staged: inout [StagedBatch]) throws -> Stats {
        var stats = Stats()
        let total = runs.reduce(0) { $0 + $1.pages } * 4096
        stats.candidatePages = total / 4096
        // A compressing dump puts each batch's frame after its pages, in the same buffer.
        let frameRoom = compressors == nil ? 0 : (PageCompressor.bound(batchBytes) + 4095) & ~4095
        // Compressing: one buffer being read, one per core compressing, one being written.
        let cores = max(1, min(8, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let pool = PageBufferPool(count: compressors == nil ? 3 : cores + 2, byteCount: batchBytes + frameRoom)
        // A payload is its run table (16 bytes a run, at most one run a page) plus page padding and the pages.
        let pipeline = WritePipeline(writer: writer, pool: pool, readBackBytes: readBack ? max(batchBytes, frameRoom) + 16 + batchBytes / 4096 * 16 + 4096 : nil)
        defer { pipeline.drain() }
        let memory = RemoteMemory(pid: pid)
        var done: UInt64 = 0
        var batch: [(address: UInt64, length: Int, keepsZeroPages: Bool)] = []
        var batchShared: [Bool] = []
        var batchMayFault = false
        var batchSize = 0

        func read(into bytes: UnsafeMutableRawBufferPointer) throws {
            do {
                if batchShared.contains(true) {
                    try SharedPageReader.read(batch.map { ($0.address, $0.length) }, shared: batchShared, into: bytes, from: memory)
                } else {
                    try memory.read(ranges: batch.map { ($0.address, $0.length) }, into: bytes)
                }
            } catch where batchMayFault {
                Self.readPageByPage(memory, batch.map { ($0.address, $0.length) }, into: bytes)
            }
        }

        func flush() throws {
            guard batchSize > 0 else { return }
            try pipeline.checkFailure()
            let ranges = batch.map { ($0.address, $0.length) }
            let copied = batchShared.contains(true) ? nil : prefetched
            if compressors == nil, staging != nil, let slice = copied?.contiguous(ranges) {
                staged.append(StagedBatch(ranges: batch, bytes: slice))
            } else if compressors == nil, let slice = staging?.take(batchSize) {
                if copied?.copy(ranges, into: slice) != true { try read(into: slice) }
                staged.append(StagedBatch(ranges: batch, bytes: slice))
            } else {
                for s in staged { try write(s, to: pipeline, stats: &stats) }
                staged.removeAll()
                try readAndSubmit()
            }
            done += UInt64(batchSize)
            progress?(done, total)
            batch.removeAll(keepingCapacity: true)
            batchShared.removeAll(keepingCapacity: true)
            batchSize = 0
            batchMayFault = false
        }

        func readAndSubmit() throws {
            try pipeline.checkWhileWaiting()
            let buffer = pool.take()
            do {
                let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[0..<batchSize])
                try read(into: bytes)
                let (kept, keptBytes) = Self.dropZeroPages(batch, bytes)
                stats.zeroPages += UInt64(batchSize - keptBytes) / 4096
                stats.savedPages += UInt64(keptBytes) / 4096
                if kept.isEmpty {
                    pool.giveBack(buffer)
                } else {
                    if let compressors {
                        let frame = CompressedFrame()
                        pipeline.submit(working: { [batchBytes] in
                            try frame.compress(buffer.bytes, count: keptBytes, room: batchBytes..<(batchBytes + frameRoom), with: compressors)
                        }, preparing: { [pid] writer in
                            try writer.preparePages(pid: pid, runs: kept, data: UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<keptBytes]),
                                                    frame: frame.kept)
                        }, holding: buffer)
                    } else {
                        let prepared = try writer.preparePages(pid: pid, runs: kept, data: UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<keptBytes]))
                        testHookScribble(UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[0..<keptBytes]))
                        pipeline.submit(prepared, holding: buffer)
                    }
                }
            } catch {
                pool.giveBack(buffer)
                throw error
            }
        }

        for run in runs {
            var address = run.address
            var left = Int(run.pages) * 4096
            while left > 0 {
                let take = min(left, batchBytes - batchSize)
                batch.append((address, take, run.keepsZeroPages))
                batchShared.append(run.shared)
                batchMayFault = batchMayFault || run.mayFault
                batchSize += take
                address += UInt64(take)
                left -= take
                if batchSize == batchBytes { try flush() }
            }
        }
        try flush()
        try pipeline.finish()
        stats.checkedSections = pipeline.checkedSections
        return stats
    }

    /// The staged batches into the image, in order, written and checked as `dump` writes.
    func writeStaged(_ batches: [StagedBatch]) throws -> Stats {
        var stats = Stats()
        let pool = PageBufferPool(count: 0, byteCount: 0)
        let pipeline = WritePipeline(writer: writer, pool: pool, readBackBytes: readBack ? batchBytes + 16 + batchBytes / 4096 * 16 + 4096 : nil)
        defer { pipeline.drain() }
        for b in batches { try write(b, to: pipeline, stats: &stats) }
        try pipeline.finish()
        stats.checkedSections = pipeline.checkedSections
        return stats
    }

    /// One staged batch: its zero pages dropped, checksummed, handed to the writer thread.
    private func write(_ b: StagedBatch, to pipeline: WritePipeline, stats: inout Stats) throws {
        try pipeline.checkFailure()
        let (kept, keptBytes) = Self.dropZeroPages(b.ranges, b.bytes)
        stats.zeroPages += UInt64(b.bytes.count - keptBytes) / 4096
        stats.savedPages += UInt64(keptBytes) / 4096
        guard !kept.isEmpty else { return }
        let prepared = try writer.preparePages(pid: pid, runs: kept, data: UnsafeRawBufferPointer(rebasing: b.bytes[0..<keptBytes]))
        testHookScribble(UnsafeMutableRawBufferPointer(rebasing: b.bytes[0..<keptBytes]))
        pipeline.submit(prepared, holding: nil)
    }

    /// A batch's zstd frame, put after its pages in the same buffer; nil
    /// when it barely shrinks (random bytes): the batch then goes in as plain
    /// PAGES, which read back faster.
    final class CompressedFrame: @unchecked Sendable {
        /// Set by the worker before the writer thread reads it (the pipeline orders the two).
        private(set) var kept: UnsafeRawBufferPointer?

        func compress(_ bytes: UnsafeMutableRawBufferPointer, count: Int, room: Range<Int>, with pool: CompressorPool) throws {
            let compressor = try pool.take()
            defer { pool.giveBack(compressor) }
            let frameRoom = UnsafeMutableRawBufferPointer(rebasing: bytes[room])
            if try Self.looksIncompressible(bytes, count: count, scratch: frameRoom, compressor) {
                kept = nil
                return
            }
            let size = try compressor.compress(UnsafeRawBufferPointer(rebasing: bytes[0..<count]), into: frameRoom)
            kept = size < count - count / 16 ? UnsafeRawBufferPointer(rebasing: frameRoom[0..<size]) : nil
        }

        /// Bytes that do not shrink (already compressed or encrypted data,
        /// random numbers) cost zstd as much time as any and are written
        /// plain in the end (a frame must save a sixteenth): four samples
        /// spread over the batch, none of which shrinks, tell so for a
        /// sixty-fourth of the work. Random data then dumps at nearly the
        /// plain speed (Benchmarks/compress.sh).
        static func looksIncompressible(_ bytes: UnsafeMutableRawBufferPointer, count: Int, scratch: UnsafeMutableRawBufferPointer,
                                        _ compressor: PageCompressor) throws -> Bool {
            let sample = 16 << 10, samples = 4
            guard count >= sample * samples * 4 else { return false }
            for k in 0..<samples {
                let at = (count / samples * k) & ~4095
                let size = try compressor.compress(UnsafeRawBufferPointer(rebasing: bytes[at..<(at + sample)]), into: scratch)
                if size < sample - sample / 16 { return false }
            }
            return true
        }
    }

    /// A page that cannot be read (shared memory past its object's end) reads as zero.
    static func readPageByPage(_ memory: RemoteMemory, _ ranges: [(address: UInt64, length: Int)], into buffer: UnsafeMutableRawBufferPointer) {
        var offset = 0
        for r in ranges {
            for p in 0..<(r.length / 4096) {
                let page = UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + 4096)])
                do { try memory.read(ranges: [(r.address + UInt64(p) * 4096, 4096)], into: page) } catch {
                    page.initializeMemory(as: UInt8.self, repeating: 0)
                }
                offset += 4096
            }
        }
    }

    /// Compacts the buffer in place to its non-zero pages and returns their runs.
    static func dropZeroPages(_ ranges: [(address: UInt64, length: Int, keepsZeroPages: Bool)], _ buffer: UnsafeMutableRawBufferPointer) -> ([(address: UInt64, pages: UInt64)], Int) {
        var kept: [(address: UInt64, pages: UInt64)] = []
        var out = 0
        var inOffset = 0
        guard let base = buffer.baseAddress else { return ([], 0) }
        for r in ranges {
            for p in 0..<(r.length / 4096) {
                let page = base + inOffset
                inOffset += 4096
                if !r.keepsZeroPages && isZeroPage(page) { continue }
                if out != inOffset - 4096 { (base + out).copyMemory(from: page, byteCount: 4096) }
                out += 4096
                let address = r.address + UInt64(p) * 4096
                if let last = kept.last, last.address + last.pages * 4096 == address {
                    kept[kept.count - 1].pages += 1
                } else {
                    kept.append((address, 1))
                }
            }
        }
        return (kept, out)
    }

    @inline(__always)
    static func isZeroPage(_ page: UnsafeMutableRawPointer) -> Bool {
        let words = page.assumingMemoryBound(to: UInt64.self)
        if words[0] != 0 || words[511] != 0 { return false }
        var acc: UInt64 = 0
        for i in stride(from: 0, to: 512, by: 8) {
            acc |= words[i] | words[i + 1] | words[i + 2] | words[i + 3] | words[i + 4] | words[i + 5] | words[i + 6] | words[i + 7]
            if acc != 0 { return false }
        }
        return true
    }
}
