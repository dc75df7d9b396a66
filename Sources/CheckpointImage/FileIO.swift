import Glibc

/// Whole-buffer reads and writes on a descriptor, retried on EINTR and short
/// transfers. `at` reads with pread; nil reads at the current position.
enum FileIO {
    /// Reads until the buffer is full or end of file; returns the bytes read.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64? = nil) throws -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let n = offset.map { pread(fd, base + done, buffer.count - done, off_t(Int64(bitPattern: $0)) + off_t(done)) }
                ?? Glibc.read(fd, base + done, buffer.count - done)
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw ImageError.io("read image at byte \((offset ?? 0) + UInt64(done)): \(String(cString: strerror(code)))", errno: code)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes the whole buffer; `written` is told each chunk so callers can keep offsets.
    static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at position: UInt64, written: (Int) -> Void) throws {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = Glibc.write(fd, base + done, buffer.count - done)
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw ImageError.io("write to image at byte \(position + UInt64(done)): \(String(cString: strerror(code)))", errno: code)
            }
            done += n
            written(n)
        }
    }
}
