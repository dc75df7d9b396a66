import CheckpointImage
import Dispatch
import Glibc

/// An eager restore of a compressed image: each ZPAGES frame is
/// decompressed on a worker thread a cache-sized piece at a time, and that
/// worker puts each piece into its process right away (UFFDIO_COPY or
/// process_vm_writev). The pages are then written while still in cache, and
/// both the decompression and the copies run on every core, where the
/// reader's workers used to decompress whole 4 MiB frames for one thread to
/// copy. A process's pages are all in after `wait()` (before a child is
/// forked from it, and before the processes run).
final class FrameFill: @unchecked Sendable {  // `lock` guards `failure`; `next` is the caller's; each worker owns its context
    /// Decompressed bytes per piece: well inside one core's L2 (1 MiB here).
    static let pieceBytes = 256 << 10
    private final class Worker: @unchecked Sendable {  // used on its queue only
        let queue: DispatchQueue
        let decompressor = PageDecompressor()
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: FrameFill.pieceBytes, alignment: 4096)
        init(_ k: Int) { queue = DispatchQueue(label: "swiftcr.frame-fill.\(k)") }
        deinit { scratch.deallocate() }
    }
    private let workers: [Worker]
    private var next = 0
    private let group = DispatchGroup()
    /// Frames handed out and not yet written: bounds the copies held.
    private let slots: DispatchSemaphore
    private let lock = NSLockLite()
    private var failure: Error?
    private let prepareThread: @Sendable () -> Void

    init(threads: Int, prepareThread: @escaping @Sendable () -> Void) {
        workers = (0..<max(1, threads)).map { Worker($0) }
        slots = DispatchSemaphore(value: 2 * max(1, threads))
        self.prepareThread = prepareThread
    }

    /// Queues the section's frame (copied: the reader reuses its buffer) for
    /// `destination`. Throws what an earlier frame ran into.
    func submit(_ section: ImageReader.PagesSection, frame: UnsafeRawBufferPointer, to destination: PageDestination) throws {
        try rethrowFailure()
        slots.wait()
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(frame.count, 1), alignment: 16)
        if let base = frame.baseAddress { copy.baseAddress?.copyMemory(from: base, byteCount: frame.count) }
        let job = Job(frame: UnsafeRawBufferPointer(rebasing: copy[0..<frame.count]), owned: copy, runs: section.runs,
                      total: section.byteCount, offset: section.frameOffset, destination: destination)
        let worker = workers[next]
        next = (next + 1) % workers.count
        group.enter()
        worker.queue.async { [self] in
            defer { job.owned.deallocate(); slots.signal(); group.leave() }
            prepareThread()
            guard lock.withLock({ failure == nil }) else { return }
            do {
                try worker.decompressor.decompress(job.frame, total: job.total, in: worker.scratch, at: job.offset) { piece, at in
                    try job.destination.write(job.runs, data: piece, from: at)
                }
            } catch {
                lock.withLock { if failure == nil { failure = error } }
            }
        }
    }

    /// Every frame submitted is written; throws the first failure.
    func wait() throws {
        group.wait()
        try rethrowFailure()
    }

    /// Waits for the workers without throwing (a restore that failed elsewhere).
    func drain() { group.wait() }

    private func rethrowFailure() throws {
        if let e = lock.withLock({ failure }) { throw e }
    }

    private struct Job: @unchecked Sendable {  // its buffers belong to the job until it ends
        let frame: UnsafeRawBufferPointer
        let owned: UnsafeMutableRawBufferPointer
        let runs: [PageRun]
        let total: Int
        let offset: UInt64
        let destination: PageDestination
    }
}
