import CheckpointImage
import Glibc

/// zstd contexts for batches compressed at once, one per batch in flight
/// (a context belongs to one thread at a time). Made on first need: as many
/// as the dump has batches compressing together, which the buffer pool bounds.
final class CompressorPool: @unchecked Sendable {
    let level: Int32
    private var free: [PageCompressor] = []
    private let lock = NSLockLite()

    /// nil if zstd refuses the level.
    init?(level: Int32) {
        guard let first = PageCompressor(level: level) else { return nil }
        self.level = level
        free = [first]
    }

    func take() throws -> PageCompressor {
        if let c = lock.withLock({ free.popLast() }) { return c }
        guard let c = PageCompressor(level: level) else { throw CheckpointError(ENOMEM, "zstd: no compression context") }
        return c
    }

    func giveBack(_ compressor: PageCompressor) {
        lock.withLock { free.append(compressor) }
    }
}
