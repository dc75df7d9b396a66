import CZstd

/// zstd for page data (cr_checkpoint --compress): each PAGES batch is one
/// independent frame with its content size and a content checksum, so any
/// section can be read on its own (the INDEX still finds every page).
/// A compressor or decompressor keeps its zstd context between batches;
/// one belongs to one thread at a time.
public final class PageCompressor: @unchecked Sendable {  // one thread at a time (a dump's CompressorPool hands it out)
    private let context: OpaquePointer
    public let level: Int32

    public init?(level: Int32) {
        guard let c = ZSTD_createCCtx() else { return nil }
        context = c
        self.level = level
        guard ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)) == 0,
              ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) == 0 else {
            ZSTD_freeCCtx(c)
            return nil
        }
    }

    deinit { ZSTD_freeCCtx(context) }

    /// The most a frame of `count` bytes can take.
    public static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Compresses `source` into `destination` (at least `bound(source.count)` bytes); returns the frame's size.
    public func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = ZSTD_compress2(context, destination.baseAddress, destination.count, source.baseAddress, source.count)
        guard ZSTD_isError(n) == 0 else {
            throw ImageError.io("zstd compression: \(String(cString: ZSTD_getErrorName(n)))")
        }
        return n
    }

    /// Levels zstd takes (1 fastest ... 19; negative: faster still).
    public static var levels: ClosedRange<Int32> { ZSTD_minCLevel()...ZSTD_maxCLevel() }
}

public final class PageDecompressor {
    private let context: OpaquePointer

    public init() {
        // Without a context zstd allocates one per call: slower, still correct.
        context = ZSTD_createDCtx()
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses the frame in `source` into exactly `destination.count` bytes.
    public func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        let declared = ZSTD_getFrameContentSize(source.baseAddress, source.count)
        guard declared == UInt64(destination.count) else {
            throw ImageError.malformed(what: "compressed PAGES data holds \(declared > UInt64(Int.max) ? "an unknown number of" : String(declared)) bytes, its table \(destination.count)", offset: offset)
        }
        let n = ZSTD_decompressDCtx(context, destination.baseAddress, destination.count, source.baseAddress, source.count)
        guard ZSTD_isError(n) == 0, n == destination.count else {
            let why = ZSTD_isError(n) != 0 ? String(cString: ZSTD_getErrorName(n)) : "\(n) bytes"
            throw ImageError.malformed(what: "compressed PAGES data does not decompress (\(why))", offset: offset)
        }
    }
}
