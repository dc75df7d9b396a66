import Glibc

/// Reads /proc/PID/pagemap: one u64 per virtual page.
public struct Pagemap {
    public static let present: UInt64 = 1 << 63
    public static let swapped: UInt64 = 1 << 62
    /// Set for file pages and shared anonymous pages; clear for private anonymous
    /// pages, which includes the copied-on-write pages of a private file mapping.
    public static let fileOrShared: UInt64 = 1 << 61
    /// A guard page (MADV_GUARD_INSTALL, Linux 6.14+): a marker with no data;
    /// the kernel also sets the swap bit on it, so test this one first.
    public static let guardRegion: UInt64 = 1 << 58

    let fd: Int32
    public init(pid: pid_t) throws {
        fd = try valueOrThrow("open(/proc/\(pid)/pagemap)") { open("/proc/\(pid)/pagemap", O_RDONLY | O_CLOEXEC) }
    }

    public func close() { _ = Glibc.close(fd) }

    /// The entries for [start, end), page aligned.
    public func entries(start: UInt64, end: UInt64) throws -> [UInt64] {
        let count = Int((end - start) / 4096)
        var out = [UInt64](repeating: 0, count: count)
        let got = try out.withUnsafeMutableBytes { (raw) throws -> Int in
            var done = 0
            while done < raw.count {
                let n = try valueOrThrow("pread(pagemap)") {
                    pread(fd, raw.baseAddress! + done, raw.count - done, off_t(start / 4096 * 8) + off_t(done))
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        if got < count * 8 { out.removeLast(count - got / 8) }
        return out
    }
}
