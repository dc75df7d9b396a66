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
final class FrameFill: @unchecked Sendable {  // each worker owns its context, used on its thread only
    /// Decompressed bytes per piece: well inside one core's L2 (1 MiB here).
    static let pieceBytes = 256 << 10
    private final class Context: @unchecked Sendable {  // used on its worker's thread only
        let decompressor = PageDecompressor()
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: FrameFill.pieceBytes, alignment: 4096)
        deinit { scratch.deallocate() }
    }
    private let pool: FillWorkers
    private let contexts: [Context]

    init(threads: Int, prepareThread: @escaping @Sendable () -> Void) {
        pool = FillWorkers(label: "swiftcr.frame-fill", threads: threads, prepareThread: prepareThread)
        contexts = (0..<pool.count).map { _ in Context() }
    }

    /// Queues the section's frame (copied: the reader reuses its buffer) for
    /// `destination`. Throws what an earlier frame ran into.
    func submit(_ section: ImageReader.PagesSection, frame: UnsafeRawBufferPointer, to destination: PageDestination) throws {
        try pool.rethrowFailure()
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(frame.count, 1), alignment: 16)
        if let base = frame.baseAddress { copy.baseAddress?.copyMemory(from: base, byteCount: frame.count) }
        let job = Job(frame: UnsafeRawBufferPointer(rebasing: copy[0..<frame.count]), owned: copy, runs: section.runs,
                      total: section.byteCount, offset: section.frameOffset, destination: destination)
        pool.run({ [contexts] worker in
            let context = contexts[worker]
            try context.decompressor.decompress(job.frame, total: job.total, in: context.scratch, at: job.offset) { piece, at in
                try job.destination.write(job.runs, data: piece, from: at)
            }
        }, cleanup: { job.owned.deallocate() })
    }

    /// Every frame submitted is written; throws the first failure.
    func wait() throws { try pool.wait() }

    /// Waits for the workers without throwing (a restore that failed elsewhere).
    func drain() { pool.drain() }

    private struct Job: @unchecked Sendable {  // its buffers belong to the job until it ends
        let frame: UnsafeRawBufferPointer
        let owned: UnsafeMutableRawBufferPointer
        let runs: [PageRun]
        let total: Int
        let offset: UInt64
        let destination: PageDestination
    }
}
