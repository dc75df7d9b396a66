import CLinux
import SystemPackage
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
    /// The page is mapped by this process only (clear: shared, e.g. copy-on-write after fork).
    public static let exclusive: UInt64 = 1 << 56
    /// The physical frame number; zero unless the reader has CAP_SYS_ADMIN.
    public static let frameMask: UInt64 = (1 << 55) - 1

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

extension Pagemap {
    /// Whether any page of [start, end) is present, by PAGEMAP_SCAN (one
    /// walk of the page tables, Linux 6.7+); nil where the kernel lacks it.
    public func anyPresent(start: UInt64, end: UInt64) -> Bool? {
        var region = cl_page_region()
        let n = withUnsafeMutablePointer(to: &region) { r -> Int32 in
            var arg = cl_pm_scan_arg(size: 96, flags: 0, start: start, end: end, walk_end: 0,
                                     vec: UInt64(UInt(bitPattern: r)), vec_len: 1, max_pages: 1,
                                     category_inverted: 0, category_mask: 0, category_anyof_mask: UInt64(CL_PAGE_IS_PRESENT),
                                     return_mask: UInt64(CL_PAGE_IS_PRESENT))
            return ioctl(fd, UInt(CL_PAGEMAP_SCAN), &arg)
        }
        return n < 0 ? nil : n > 0 && region.categories & UInt64(CL_PAGE_IS_PRESENT) != 0
    }

    /// Whether PAGEMAP_SCAN (Linux 6.7+, written-page tracking) answers on
    /// this process's own pagemap; the errno if not.
    public static func scanAvailable() -> Result<Void, Errno> {
        let fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Errno(rawValue: errno)) }
        defer { Glibc.close(fd) }
        var regions = [cl_page_region](repeating: cl_page_region(), count: 4)
        let probe = [UInt8](repeating: 1, count: 4096)
        let start = probe.withUnsafeBytes { UInt64(UInt(bitPattern: $0.baseAddress)) } & ~4095
        let n = regions.withUnsafeMutableBufferPointer { r -> Int32 in
            var arg = cl_pm_scan_arg(size: 96, flags: 0, start: start, end: start + 4096, walk_end: 0,
                                     vec: UInt64(UInt(bitPattern: r.baseAddress)), vec_len: 4, max_pages: 0,
                                     category_inverted: 0, category_mask: 0, category_anyof_mask: UInt64(CL_PAGE_IS_PRESENT),
                                     return_mask: UInt64(CL_PAGE_IS_PRESENT))
            return ioctl(fd, UInt(CL_PAGEMAP_SCAN), &arg)
        }
        return n >= 0 ? .success(()) : .failure(Errno(rawValue: errno))
    }
}
