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

    /// Many regions, more than one call's vector holds: whatever the vector's
    /// length, the runs come back in order, apart, each page once.
    func testScatteredPagesComeBackInOrderWhateverTheVectorLength() throws {
        let pages = 16384
        let size = pages * 4096
        guard let area = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), area != MAP_FAILED else {
            throw XCTSkip("mmap")
        }
        defer { munmap(area, size) }
        _ = madvise(area, size, 15)  // MADV_NOHUGEPAGE: one page a region
        var random: UInt64 = 0x9e3779b97f4a7c15
        var touched = Set<Int>()
        for _ in 0..<(pages / 3) {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            let page = Int((random >> 33) % UInt64(pages))
            area.storeBytes(of: 1, toByteOffset: page * 4096, as: UInt8.self)
            touched.insert(page)
        }
        let pagemap = try Pagemap(pid: getpid())
        defer { pagemap.close() }
        let start = UInt64(UInt(bitPattern: area))
        for length in [7, 512, 513, 4096] {
            let regions: [Pagemap.Region]
            do { regions = try pagemap.scan(start: start, end: start + UInt64(size), anyOf: .present, vectorLength: length) } catch {
                throw XCTSkip("no PAGEMAP_SCAN on this kernel: \(error)")
            }
            var seen = Set<Int>()
            var previousEnd = start
            for r in regions {
                XCTAssertGreaterThanOrEqual(r.start, previousEnd, "vector of \(length): a run starts inside the one before")
                XCTAssertLessThan(r.start, r.end)
                previousEnd = r.end
                for a in stride(from: r.start, to: r.end, by: 4096) { seen.insert(Int((a - start) / 4096)) }
            }
            let missing = touched.subtracting(seen).sorted(), extra = seen.subtracting(touched).sorted()
            XCTAssertTrue(missing.isEmpty && extra.isEmpty,
                          "vector of \(length): \(missing.count) touched pages missing (first \(missing.prefix(5))), \(extra.count) untouched reported (first \(extra.prefix(5))), \(regions.count) runs")
        }
    }

    /// A scan of the whole address space with `onlyTracked` reports the
    /// written pages of the mappings registered for asynchronous write
    /// protection and nothing of the others (present pages in untracked
    /// memory are not "written" to us), protects what it reports, and
    /// does not fail on the untracked mappings.
    func testWholeAddressSpaceScanSeesOnlyTrackedMemory() throws {
        let pages = 256, size = pages * 4096
        guard let tracked = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), tracked != MAP_FAILED,
              let other = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), other != MAP_FAILED else {
            throw XCTSkip("mmap")
        }
        defer { munmap(tracked, size); munmap(other, size) }
        _ = madvise(tracked, size, 15)  // MADV_NOHUGEPAGE: one page a region
        let fd = Int32(truncatingIfNeeded: Syscall.raw(NR.userfaultfd, Int(O_CLOEXEC | O_NONBLOCK) | Userfaultfd.userModeOnly))
        guard fd >= 0 else { throw XCTSkip("no userfaultfd here (errno \(errno))") }
        defer { close(fd) }
        let uffd = Userfaultfd(fd: fd)
        let start = UInt64(UInt(bitPattern: tracked))
        guard case .success = uffd.handshake(features: Userfaultfd.writeProtectAsync),
              case .success = uffd.registerWriteProtect(start: start, length: UInt64(size)) else {
            throw XCTSkip("no asynchronous write protection on this kernel")
        }
        for p in 0..<pages { tracked.storeBytes(of: 1, toByteOffset: p * 4096, as: UInt8.self) }
        for p in 0..<pages { other.storeBytes(of: 1, toByteOffset: p * 4096, as: UInt8.self) }
        let pagemap = try Pagemap(pid: getpid())
        defer { pagemap.close() }
        let whole: (UInt64, UInt64) = (4096, 1 << 47 - 4096)
        // First pass: everything in the tracked mapping was written; protect it.
        _ = try pagemap.scan(start: whole.0, end: whole.1, anyOf: [.present, .swapped], protect: true, onlyTracked: true)
        var random: UInt64 = 0x2545f4914f6cdd1d
        var rewritten = Set<Int>()
        for _ in 0..<40 {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            let p = Int((random >> 33) % UInt64(pages))
            tracked.storeBytes(of: 2, toByteOffset: p * 4096, as: UInt8.self)
            rewritten.insert(p)
        }
        for p in 0..<pages { other.storeBytes(of: 3, toByteOffset: p * 4096, as: UInt8.self) }
        let regions = try pagemap.scan(start: whole.0, end: whole.1, anyOf: [.present, .swapped], protect: true, onlyTracked: true)
        var written = Set<Int>(), present = 0
        for r in regions {
            XCTAssertTrue(r.start >= start && r.end <= start + UInt64(size),
                          "a run outside the tracked mapping: 0x\(String(r.start, radix: 16))-0x\(String(r.end, radix: 16))")
            for a in stride(from: r.start, to: r.end, by: 4096) {
                present += 1
                if r.categories.contains(.written) { written.insert(Int((a - start) / 4096)) }
            }
        }
        XCTAssertEqual(present, pages, "every page of the tracked mapping is reported once")
        XCTAssertEqual(written, rewritten)
        // Protected again by that scan: nothing written since.
        let again = try pagemap.scan(start: whole.0, end: whole.1, anyOf: [.present, .swapped], protect: true, onlyTracked: true)
        XCTAssertFalse(again.contains { $0.categories.contains(.written) })
    }
}
