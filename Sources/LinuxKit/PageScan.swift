import CLinux
import Glibc
import SystemPackage

/// PAGEMAP_SCAN (Linux 6.7+) on a process's pagemap: the pages of a range
/// by category, in runs, and write protection of the matching ones in the
/// same walk. On another process's pagemap it acts on that process's memory.
extension Pagemap {
    /// PAGE_IS_* categories.
    public struct PageCategories: OptionSet, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        /// Registered for asynchronous write protection.
        public static let writeProtectable = PageCategories(rawValue: UInt64(CL_PAGE_IS_WPALLOWED))
        /// Not write-protected: written since it was last protected (or never protected).
        public static let written = PageCategories(rawValue: UInt64(CL_PAGE_IS_WRITTEN))
        public static let file = PageCategories(rawValue: UInt64(CL_PAGE_IS_FILE))
        public static let present = PageCategories(rawValue: UInt64(CL_PAGE_IS_PRESENT))
        public static let swapped = PageCategories(rawValue: UInt64(CL_PAGE_IS_SWAPPED))
        /// The shared zero page (read, never written).
        public static let zeroPage = PageCategories(rawValue: UInt64(CL_PAGE_IS_PFNZERO))
        public static let all: PageCategories = [.writeProtectable, .written, .file, .present, .swapped, .zeroPage]
    }

    public struct Region: Equatable, Sendable {
        public var start: UInt64, end: UInt64
        public var categories: PageCategories
        public init(start: UInt64, end: UInt64, categories: PageCategories) {
            self.start = start; self.end = end; self.categories = categories
        }
    }

    /// The runs of [start, end) having any of `anyOf` (every page if empty),
    /// each with its categories. With `protect`, the written pages among
    /// those found are write-protected again in the same walk (the kernel
    /// leaves the others alone), and a page not registered for asynchronous
    /// protection fails the scan (EPERM from the kernel).
    /// With `onlyTracked`, mappings not registered for asynchronous write
    /// protection are skipped whole by the kernel, unwalked (so a scan may
    /// span the whole address space), and `protect` never fails on them.
    /// `vectorLength` runs are taken per call (4096: 100 MiB of scattered written pages is 50,000 runs).
    public func scan(start: UInt64, end: UInt64, anyOf: PageCategories = [], protect: Bool = false, onlyTracked: Bool = false,
                     vectorLength: Int = 4096) throws -> [Region] {
        let flags = protect ? CL_PM_SCAN_WP_MATCHING | (onlyTracked ? 0 : CL_PM_SCAN_CHECK_WPASYNC) : 0
        let required = onlyTracked ? PageCategories.writeProtectable.rawValue : 0
        var out: [Region] = []
        var regions = [cl_page_region](repeating: cl_page_region(), count: vectorLength)
        var from = start
        while from < end {
            var walkEnd: UInt64 = 0
            let n = regions.withUnsafeMutableBufferPointer { r -> Int32 in
                var arg = cl_pm_scan_arg(size: 96, flags: flags, start: from, end: end, walk_end: 0,
                                         vec: UInt64(UInt(bitPattern: r.baseAddress)), vec_len: UInt64(r.count), max_pages: 0,
                                         category_inverted: 0, category_mask: required, category_anyof_mask: anyOf.rawValue,
                                         return_mask: PageCategories.all.rawValue)
                let k = ioctl(fd, UInt(CL_PAGEMAP_SCAN), &arg)
                walkEnd = arg.walk_end
                return k
            }
            guard n >= 0 else {
                throw SystemCallError("PAGEMAP_SCAN 0x\(String(from, radix: 16))-0x\(String(end, radix: 16))", Errno(rawValue: errno))
            }
            for k in 0..<Int(n) {
                let r = Region(start: regions[k].start, end: regions[k].end, categories: PageCategories(rawValue: regions[k].categories))
                if let last = out.last, last.end == r.start, last.categories == r.categories {
                    out[out.count - 1].end = r.end
                } else {
                    out.append(r)
                }
            }
            // Only a full vector stops the walk early (max_pages is not used).
            // Then go on past both the last run and walk_end: this kernel
            // (6.18) can report a walk_end short of runs it returned when the
            // vector is longer than 512, and those runs would come twice.
            guard n > 0, Int(n) == regions.count else { break }
            let next = max(walkEnd, regions[Int(n) - 1].end)
            guard next > from, next < end else { break }
            from = next
        }
        return out
    }
}
