import CheckpointImage
import Dispatch
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

    struct Stats { var candidatePages: UInt64 = 0; var savedPages: UInt64 = 0; var zeroPages: UInt64 = 0 }

    /// Runs of candidate pages, per mapping, from pagemap.
    func candidates(_ mappings: [(MapsEntry, Mapping)]) throws -> [(address: UInt64, pages: UInt64)] {
        let pagemap = try Pagemap(pid: pid)
        defer { pagemap.close() }
        var runs: [(address: UInt64, pages: UInt64)] = []
        let window: UInt64 = 1 << 30  // read pagemap 1 GiB of address space at a time
        for (m, mapping) in mappings where (mapping.kind != .sharedFile || mapping.savedWhole) && mapping.kind != .vdso && mapping.kind != .kernelFixed {
            let kind = mapping.kind
            var start = m.start
            // Saved whole: every page the file reaches, then the usual rule past its end.
            if mapping.savedWhole && mapping.fileSpan > 0 {
                runs.append((m.start, mapping.fileSpan / 4096))
                start += mapping.fileSpan
            }
            while start < m.end {
                let end = min(m.end, start + window)
                let entries = try pagemap.entries(start: start, end: end)
                var i = 0
                while i < entries.count {
                    guard MappingClassifier.shouldSave(entries[i], kind: kind) else { i += 1; continue }
                    var j = i + 1
                    while j < entries.count && MappingClassifier.shouldSave(entries[j], kind: kind) { j += 1 }
                    runs.append((start + UInt64(i) * 4096, UInt64(j - i)))
                    i = j
                }
                start = end
            }
        }
        return runs
    }

    /// Two buffers: while the image writer thread writes one batch, this
    /// thread reads, zero-checks and checksums the next.
    func dump(_ runs: [(address: UInt64, pages: UInt64)]) throws -> Stats {
        var stats = Stats()
        let total = runs.reduce(0) { $0 + $1.pages } * 4096
        stats.candidatePages = total / 4096
        let buffers = (0..<3).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: batchBytes, alignment: 4096) }
        let pipeline = WritePipeline(writer: writer, slots: buffers.count)
        defer {
            pipeline.drain()
            buffers.forEach { $0.deallocate() }
        }
        let memory = RemoteMemory(pid: pid)
        var done: UInt64 = 0
        var batch: [(address: UInt64, length: Int)] = []
        var batchSize = 0
        var next = 0

        func flush() throws {
            guard batchSize > 0 else { return }
            try pipeline.acquire()
            let buffer = buffers[next]
            next = (next + 1) % buffers.count
            try memory.read(ranges: batch, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<batchSize]))
            let (kept, keptBytes) = Self.dropZeroPages(batch, buffer)
            stats.zeroPages += UInt64(batchSize - keptBytes) / 4096
            stats.savedPages += UInt64(keptBytes) / 4096
            if kept.isEmpty {
                pipeline.release()
            } else {
                let prepared = try writer.preparePages(pid: pid, runs: kept, data: UnsafeRawBufferPointer(rebasing: buffer[0..<keptBytes]))
                pipeline.submit(prepared)
            }
            done += UInt64(batchSize)
            progress?(done, total)
            batch.removeAll(keepingCapacity: true)
            batchSize = 0
        }

        for run in runs {
            var address = run.address
            var left = Int(run.pages) * 4096
            while left > 0 {
                let take = min(left, batchBytes - batchSize)
                batch.append((address, take))
                batchSize += take
                address += UInt64(take)
                left -= take
                if batchSize == batchBytes { try flush() }
            }
        }
        try flush()
        try pipeline.finish()
        return stats
    }

    /// Compacts the buffer in place to its non-zero pages and returns their runs.
    static func dropZeroPages(_ ranges: [(address: UInt64, length: Int)], _ buffer: UnsafeMutableRawBufferPointer) -> ([(address: UInt64, pages: UInt64)], Int) {
        var kept: [(address: UInt64, pages: UInt64)] = []
        var out = 0
        var inOffset = 0
        let base = buffer.baseAddress!
        for r in ranges {
            for p in 0..<(r.length / 4096) {
                let page = base + inOffset
                inOffset += 4096
                if isZeroPage(page) { continue }
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

/// Writes prepared PAGES sections on a thread of its own, in order. A slot is
/// a buffer: `acquire` waits until one is free again; the first write error
/// stops everything and is rethrown to the reading side.
final class WritePipeline: @unchecked Sendable {
    private let writer: ImageWriter
    private let queue = DispatchQueue(label: "swiftcr.image-writer")
    private let free: DispatchSemaphore
    private let lock = NSLockLite()
    private var failure: Error?

    init(writer: ImageWriter, slots: Int) {
        self.writer = writer
        self.free = DispatchSemaphore(value: slots)
    }

    func acquire() throws {
        free.wait()
        if let e = lock.withLock({ failure }) {
            free.signal()
            throw e
        }
    }

    func release() { free.signal() }

    func submit(_ prepared: ImageWriter.PreparedPages) {
        queue.async { [self] in
            if lock.withLock({ failure == nil }) {
                do { try writer.commit(prepared) } catch { lock.withLock { failure = error } }
            }
            free.signal()
        }
    }

    /// Waits for every submitted write.
    func drain() { queue.sync {} }

    func finish() throws {
        drain()
        if let e = lock.withLock({ failure }) { throw e }
    }
}

/// A pthread mutex (Foundation's NSLock without Foundation).
final class NSLockLite: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}
