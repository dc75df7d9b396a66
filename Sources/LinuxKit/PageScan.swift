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
    /// each with its categories. With `protect`, the pages found are
    /// write-protected in the same walk, and a page not registered for
    /// asynchronous protection fails the scan (EPERM from the kernel).
    public func scan(start: UInt64, end: UInt64, anyOf: PageCategories = [], protect: Bool = false) throws -> [Region] {
        try scan(start: start, end: end, allOf: [], anyOf: anyOf, protect: protect)
    }

    /// Write-protects the pages of [start, end) written since they were last
    /// protected, leaving the others alone (fewer page-table entries change
    /// than when every page is protected again).
    public func protectWritten(start: UInt64, end: UInt64) throws {
        _ = try scan(start: start, end: end, allOf: .written, anyOf: [.present, .swapped], protect: true)
    }

    /// As `scan`, keeping only pages that have every category of `allOf`.
    func scan(start: UInt64, end: UInt64, allOf: PageCategories, anyOf: PageCategories, protect: Bool) throws -> [Region] {
        var out: [Region] = []
        var regions = [cl_page_region](repeating: cl_page_region(), count: 512)
        var from = start
        while from < end {
            var walkEnd: UInt64 = 0
            let n = regions.withUnsafeMutableBufferPointer { r -> Int32 in
                var arg = cl_pm_scan_arg(size: 96, flags: protect ? CL_PM_SCAN_WP_MATCHING | CL_PM_SCAN_CHECK_WPASYNC : 0,
                                         start: from, end: end, walk_end: 0,
                                         vec: UInt64(UInt(bitPattern: r.baseAddress)), vec_len: UInt64(r.count), max_pages: 0,
                                         category_inverted: 0, category_mask: allOf.rawValue, category_anyof_mask: anyOf.rawValue,
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
            // A full vector stops the walk early: go on from where it stopped.
            guard walkEnd > from, walkEnd < end else { break }
            from = walkEnd
        }
        return out
    }
}
