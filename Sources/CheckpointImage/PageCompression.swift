import Glibc
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

    /// Decompresses the frame in `source`, which must hold exactly `total`
    /// bytes, a piece of `scratch` at a time: each piece (whole pages, so at
    /// least 4096 bytes of scratch) is handed to `body` with its place in
    /// the output, while it is still in cache. zstd's content checksum is
    /// checked when the frame ends, after the pieces were used: the caller
    /// has checked the section's CRC already.
    public func decompress(_ source: UnsafeRawBufferPointer, total: Int, in scratch: UnsafeMutableRawBufferPointer, at offset: UInt64,
                           _ body: (_ piece: UnsafeRawBufferPointer, _ at: Int) throws -> Void) throws {
        let declared = ZSTD_getFrameContentSize(source.baseAddress, source.count)
        guard declared == UInt64(total) else {
            throw ImageError.malformed(what: "compressed PAGES data holds \(declared > UInt64(Int.max) ? "an unknown number of" : String(declared)) bytes, its table \(total)", offset: offset)
        }
        func failed(_ why: String) -> ImageError {
            ImageError.malformed(what: "compressed PAGES data does not decompress (\(why))", offset: offset)
        }
        let room = scratch.count & ~4095
        guard room > 0, let base = scratch.baseAddress else { throw failed("no room for a page") }
        ZSTD_DCtx_reset(context, ZSTD_reset_session_only)
        var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
        var produced = 0  // handed to body
        var held = 0      // decompressed at the start of scratch, not yet handed (less than a page, or the last bytes)
        var frameEnded = false
        while !frameEnded {
            var output = ZSTD_outBuffer(dst: base, size: room, pos: held)
            let left = ZSTD_decompressStream(context, &output, &input)
            guard ZSTD_isError(left) == 0 else { throw failed(String(cString: ZSTD_getErrorName(left))) }
            frameEnded = left == 0
            guard produced + output.pos <= total else { throw failed("more than \(total) bytes") }
            // Neither input left nor output made, and no end: a cut frame.
            if !frameEnded && output.pos == held && input.pos == input.size { throw failed("the frame is cut short") }
            let ready = frameEnded ? output.pos : output.pos & ~4095
            if ready > 0 { try body(UnsafeRawBufferPointer(start: base, count: ready), produced) }
            produced += ready
            held = output.pos - ready
            if held > 0 { memmove(base, base + ready, held) }
        }
        guard produced == total else { throw failed("\(produced) bytes") }
        guard input.pos == input.size else { throw failed("\(input.size - input.pos) bytes after the frame") }
    }
}
