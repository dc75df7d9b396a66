import Glibc
import LinuxKit
import XCTest

/// Pagemap.anyPresent (PAGEMAP_SCAN): lazy restore asks it whether the
/// restore touched a page it was going to leave missing.
final class PagemapScanTests: XCTestCase {
    func testAnyPresentSeesOneTouchedPageAndNoneInAnUntouchedMapping() throws {
        let size = 64 * 4096
        guard let area = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), area != MAP_FAILED else {
            throw XCTSkip("mmap")
        }
        defer { munmap(area, size) }
        let pagemap = try Pagemap(pid: getpid())
        defer { pagemap.close() }
        let start = UInt64(UInt(bitPattern: area))
        guard let untouched = pagemap.anyPresent(start: start, end: start + UInt64(size)) else { throw XCTSkip("no PAGEMAP_SCAN on this kernel") }
        XCTAssertFalse(untouched)
        area.storeBytes(of: 1, toByteOffset: 40 * 4096, as: UInt8.self)
        XCTAssertEqual(pagemap.anyPresent(start: start, end: start + UInt64(size)), true)
        XCTAssertEqual(pagemap.anyPresent(start: start, end: start + 40 * 4096), false)
        XCTAssertEqual(pagemap.anyPresent(start: start + 40 * 4096, end: start + 41 * 4096), true)
    }
}
