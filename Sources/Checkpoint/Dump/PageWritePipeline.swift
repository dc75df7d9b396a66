import CheckpointImage
import Dispatch
import Glibc

/// Page-aligned batch buffers with exactly one owner each. `take` blocks until
/// a buffer is free; a buffer comes back only through `giveBack`, which the
/// writer calls after the section's bytes are on the file descriptor. No
/// round-robin index: a batch that is all zero returns its own buffer, so the
/// count of free buffers and the buffers themselves cannot drift apart.
final class PageBufferPool: @unchecked Sendable {
    struct Buffer: @unchecked Sendable {
        let index: Int
        let bytes: UnsafeMutableRawBufferPointer
    }

    private let buffers: [HugePageBuffer]
    private var free: [Int]
    private var mutex = pthread_mutex_t()
    private var returned = pthread_cond_t()

    init(count: Int, byteCount: Int) {
        buffers = (0..<count).map { _ in HugePageBuffer(byteCount: byteCount) }
        free = Array((0..<count).reversed())
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&returned, nil)
    }

    /// Callers make sure every buffer has come back (the pipeline drains first).
    deinit {
        pthread_cond_destroy(&returned)
        pthread_mutex_destroy(&mutex)
    }

    /// True when `take` would not wait.
    var hasFree: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return !free.isEmpty
    }

    func take() -> Buffer {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while free.isEmpty { pthread_cond_wait(&returned, &mutex) }
        let index = free.removeLast()
        return Buffer(index: index, bytes: buffers[index].bytes)
    }

    func giveBack(_ buffer: Buffer) {
        pthread_mutex_lock(&mutex)
        precondition(!free.contains(buffer.index), "page buffer given back twice")
        free.append(buffer.index)
        pthread_cond_signal(&returned)
        pthread_mutex_unlock(&mutex)
    }
}

/// Writes prepared PAGES sections on a thread of its own, in order, and gives
/// each section's buffer back to the pool once its write has finished. With
/// read-back buffers, written sections are checked against their checksums
/// in the file (cr_checkpoint's check before commit), oldest first, by
/// whichever thread would otherwise wait: the reading thread while no
/// buffer is free and while the last writes finish, the writer while no
/// other write is queued. (Which is the slower varies: here the reading
/// thread, which copies and checksums every page, was busy 1.5 times as
/// long as the writer, and checking only there put the check on the dump's
/// time.) The first error stops everything and is rethrown to the reading side.
final class WritePipeline: @unchecked Sendable {
    private let writer: ImageWriter
    private let pool: PageBufferPool
    private let queue = DispatchQueue(label: "swiftcr.image-writer")
    private let workers = DispatchQueue(label: "swiftcr.page-workers", attributes: .concurrent)
    private let lock = NSLockLite()
    private var failure: Error?
    /// Each thread's buffer for a section read back where the file cannot be mapped.
    private let readBack: UnsafeMutableRawBufferPointer?
    private let writerReadBack: UnsafeMutableRawBufferPointer?
    /// Sections written and not yet checked (writer thread appends, either takes; under `lock`).
    private var written: [ImageWriter.PreparedPages] = []
    /// Start offsets of the sections read back and found sound (under `lock`).
    private var checked: [UInt64] = []
    var checkedSections: [UInt64] { lock.withLock { checked } }
    /// Sections submitted and not yet written or failed (under `lock`).
    private var outstanding = 0
    /// Signalled each time a submitted section is done with.
    private let finished = DispatchSemaphore(value: 0)

    init(writer: ImageWriter, pool: PageBufferPool, readBackBytes: Int?) {
        self.writer = writer
        self.pool = pool
        readBack = readBackBytes.map { UnsafeMutableRawBufferPointer.allocate(byteCount: $0, alignment: 4096) }
        writerReadBack = readBackBytes.map { UnsafeMutableRawBufferPointer.allocate(byteCount: $0, alignment: 4096) }
    }

    deinit {
        readBack?.deallocate()
        writerReadBack?.deallocate()
    }

    func checkFailure() throws {
        if let e = lock.withLock({ failure }) { throw e }
    }

    /// `prepared` points into `buffer`; the buffer is the pipeline's until
    /// written (nil: memory the caller keeps until `finish`, a staging area).
    func submit(_ prepared: ImageWriter.PreparedPages, holding buffer: PageBufferPool.Buffer?) {
        lock.withLock { outstanding += 1 }
        queue.async { [self] in
            defer { settle() }
            CPUPin.freePoolThread()
            if lock.withLock({ failure == nil }) {
                do {
                    try writer.commit(prepared)
                    if readBack != nil { lock.withLock { written.append(prepared) } }
                } catch { lock.withLock { failure = error } }
            }
            if let buffer { pool.giveBack(buffer) }
            checkWhileIdle()
        }
    }

    /// As `submit`, for a batch that needs `work` first (compression): the
    /// work of several batches runs at once, on as many threads, while this
    /// one reads the next; each is then prepared and written on the writer
    /// thread in the order submitted (preparing plans the file's layout).
    func submit(working work: @escaping @Sendable () throws -> Void,
                preparing prepare: @escaping @Sendable (ImageWriter) throws -> ImageWriter.PreparedPages, holding buffer: PageBufferPool.Buffer) {
        let job = WorkItem()
        lock.withLock { outstanding += 1 }
        workers.async { [self] in
            CPUPin.freePoolThread()
            if lock.withLock({ failure == nil }) {
                do { try work() } catch { job.error = error }
            }
            job.done.signal()
        }
        queue.async { [self] in
            defer { settle() }
            CPUPin.freePoolThread()
            job.done.wait()
            if lock.withLock({ failure == nil }) {
                do {
                    if let e = job.error { throw e }
                    let prepared = try prepare(writer)
                    try writer.commit(prepared)
                    if readBack != nil { lock.withLock { written.append(prepared) } }
                } catch { lock.withLock { failure = error } }
            }
            pool.giveBack(buffer)
            checkWhileIdle()
        }
    }

    /// A batch's work, done on a worker and waited for by the writer thread.
    private final class WorkItem: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var error: Error?  // set before `done` is signalled, read after it is waited for
    }

    /// On the reading thread, before it takes a buffer: while none is free,
    /// checks written sections, oldest first, one at a time (read back uses
    /// only their place, length and checksum, not the buffer).
    func checkWhileWaiting() throws {
        guard let into = readBack else { return }
        while !pool.hasFree {
            guard let p = lock.withLock({ written.isEmpty ? nil : written.removeFirst() }) else { return }
            try writer.readBack(p, into: into, on: .reading)
            lock.withLock { checked.append(p.offset) }
        }
    }

    /// On the writer thread, after a section's buffer is back: checks
    /// written sections, oldest first, one at a time, while no other
    /// section is queued to be written (its own block is still counted).
    private func checkWhileIdle() {
        guard let into = writerReadBack else { return }
        while let p = lock.withLock({ outstanding == 1 && failure == nil && !written.isEmpty ? written.removeFirst() : nil }) {
            do {
                try writer.readBack(p, into: into, on: .writing)
                lock.withLock { checked.append(p.offset) }
            } catch {
                lock.withLock { failure = error }
                return
            }
        }
    }

    /// On the writer thread, last in each section's block.
    private func settle() {
        lock.withLock { outstanding -= 1 }
        finished.signal()
    }

    /// Waits for every submitted write.
    func drain() { queue.sync {} }

    /// Waits for the last writes, checking each written section meanwhile.
    func finish() throws {
        while true {
            try checkFailure()
            let (next, left) = lock.withLock { (readBack == nil || written.isEmpty ? nil : written.removeFirst(), outstanding) }
            if let p = next, let into = readBack {
                try writer.readBack(p, into: into, on: .reading)
                lock.withLock { checked.append(p.offset) }
            } else if left == 0 {
                break
            } else {
                finished.wait()
            }
        }
        drain()
        try checkFailure()
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
