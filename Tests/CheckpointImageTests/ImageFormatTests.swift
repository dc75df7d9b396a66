import Glibc
import XCTest
@testable import CheckpointImage

final class ImageFormatTests: XCTestCase {
    func testRoundTripKeepsEveryField() throws {
        let fd = SampleImage.fd(try SampleImage.bytes())
        defer { close(fd) }
        let reader = try ImageReader(fd: fd)
        XCTAssertEqual(reader.version, ImageFormat.versionString)
        var sections: [String] = []
        var pages: [UInt64: [UInt8]] = [:]
        while let s = try reader.next() {
            switch s {
            case .inventory(let inv): XCTAssertEqual(inv, SampleImage.inventory); sections.append("inventory")
            case .process(let p): XCTAssertEqual(p, SampleImage.process); sections.append("process")
            case .pages(let p):
                sections.append("pages")
                var off = 0
                for r in p.runs {
                    for k in 0..<r.pageCount {
                        pages[r.address + k * 4096] = Array(p.data[off..<off + 4096])
                        off += 4096
                    }
                }
            case .zombie: sections.append("zombie")
            case .tree: sections.append("tree")
            case .index: sections.append("index")
            case .end: sections.append("end")
            }
        }
        XCTAssertEqual(sections, ["inventory", "process", "pages", "pages", "index", "end"])
        XCTAssertEqual(pages.count, 5)
        for (address, bytes) in pages { XCTAssertEqual(bytes, SampleImage.page(address)) }
    }

    func testPageDataIsPageAlignedAndIndexed() throws {
        let bytes = try SampleImage.bytes()
        let fd = SampleImage.fd(bytes)
        defer { close(fd) }
        let index = try ImageIndex.load(fd: fd)
        XCTAssertEqual(index.pageRuns.count, 3)
        XCTAssertEqual(index.sections.map(\.type), [1, 2, 3, 3])
        for r in index.pageRuns { XCTAssertEqual(r.fileOffset % 4096, 0) }
        let lookup = PageLookup(index: index, fd: fd)
        let stackPage = try lookup.page(pid: SampleImage.pid, address: 0x7ffd_0002_0123)
        XCTAssertEqual(stackPage, SampleImage.page(0x7ffd_0002_0000))
        XCTAssertNil(try lookup.page(pid: SampleImage.pid, address: 0x608000))
        let loaded = try LoadedImage.load(fd: SampleImage.fd(bytes))
        XCTAssertEqual(loaded.pageRuns, index.pageRuns)
    }

    /// Page data handed out is page aligned in memory too, streamed (with
    /// and without read-ahead) or loaded by place: UFFDIO_COPY from a
    /// source across pages ran at a third to half the speed (lazy restore
    /// took 1.5x an eager one for it).
    func testPageDataIsPageAlignedInMemory() throws {
        let bytes = try SampleImage.bytes()
        for readAhead in [false, true] {
            let fd = SampleImage.fd(bytes)
            defer { close(fd) }
            let reader = try ImageReader(fd: fd)
            reader.readAhead = readAhead
            let loader = PagesSectionLoader(fd: fd)
            var sections = 0
            while let section = try reader.next() {
                guard case .pages(let p) = section else { continue }
                sections += 1
                XCTAssertEqual(UInt(bitPattern: p.data.baseAddress) % 4096, 0, "streamed, read-ahead \(readAhead)")
                let loaded = try loader.load(p)
                XCTAssertEqual(UInt(bitPattern: loaded.baseAddress) % 4096, 0, "loaded by place")
                XCTAssertTrue(loaded.elementsEqual(p.data))
            }
            XCTAssertEqual(sections, 2)
        }
    }

    func testStreamsThroughAPipe() throws {
        var p: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&p), 0)
        let writeEnd = p[1]
        let writer = Thread {
            try? SampleImage.write(to: writeEnd)
            close(writeEnd)
        }
        writer.start()
        defer { close(p[0]) }
        let image = try LoadedImage.load(fd: p[0], verify: true)
        XCTAssertEqual(image.processes.first, SampleImage.process)
        XCTAssertEqual(image.pageRuns.count, 3)
    }

    func testEveryFlippedByteIsCaught() throws {
        let good = try SampleImage.bytes()
        // Flip one byte in each region: file header, a section header, each payload, page data, END.
        var offsets = [9, 64 + 3, 64 + 40, good.count - 10, good.count - 40]
        let index = try ImageIndex.load(fd: SampleImage.fd(good))
        offsets += index.pageRuns.map { Int($0.fileOffset) + 100 }
        offsets += index.sections.map { Int($0.offset) + 32 + 5 }
        for at in offsets {
            var bad = good
            bad[at] ^= 0x40
            let fd = SampleImage.fd(bad)
            defer { close(fd) }
            XCTAssertThrowsError(try LoadedImage.load(fd: fd, verify: true), "flip at \(at) went unnoticed") { e in
                XCTAssertTrue(e is ImageError, "\(e)")
            }
        }
    }

    func testTruncationIsReportedWithOffset() throws {
        let good = try SampleImage.bytes()
        for length in [0, 5, 63, 64, 90, good.count / 2, good.count - 1] {
            let fd = SampleImage.fd(Array(good[0..<length]))
            defer { close(fd) }
            XCTAssertThrowsError(try LoadedImage.load(fd: fd, verify: true), "length \(length)") { e in
                let text = "\(e)"
                XCTAssertTrue(text.contains("truncated") || text.contains("not a swiftcr image"), "length \(length): \(text)")
            }
            XCTAssertThrowsError(try ImageIndex.load(fd: fd))
        }
    }

    func testNewerMajorIsRefusedNamingBothVersions() throws {
        var bytes = try SampleImage.bytes()
        bytes[8] = 2  // major 2
        XCTAssertThrowsError(try ImageReader(fd: SampleImage.fd(bytes))) { e in
            XCTAssertEqual("\(e)", "image format 2.\(ImageFormat.minor) is newer than this swiftcr reads (\(ImageFormat.versionString)); use a newer swiftcr")
        }
    }

    func testNewerMinorIsRead() throws {
        var bytes = try SampleImage.bytes()
        bytes[10] = 7  // minor 7: readable, but the header CRC must be right
        let crc = CRC32C.checksum(Array(bytes[0..<60]))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[60 + i] = $0[i] } }
        XCTAssertEqual(try ImageReader(fd: SampleImage.fd(bytes)).version, "1.7")
    }

    func testForeignFileIsNotAnImage() {
        XCTAssertThrowsError(try ImageReader(fd: SampleImage.fd(Array("#!/bin/sh\necho hi\n".utf8)))) { e in
            XCTAssertTrue("\(e)".hasPrefix("not a swiftcr image"), "\(e)")
        }
    }

    func testUnknownSectionsOptionalSkippedRequiredRefused() throws {
        let good = try SampleImage.bytes()
        func inject(flags: UInt32) -> [UInt8] {
            var extra: [UInt8] = []
            let h = SectionHeader(type: 99, flags: flags, payloadLength: 3)
            extra += h.encode() + [1, 2, 3]
            withUnsafeBytes(of: CRC32C.checksum([1, 2, 3]).littleEndian) { extra += $0 }
            return Array(good[0..<64]) + extra + Array(good[64...])
        }
        let optional = inject(flags: SectionFlags.optional.rawValue)
        let reader = try ImageReader(fd: SampleImage.fd(optional))
        reader.loadPages = false
        if case .inventory? = try reader.next() {} else { XCTFail("optional section not skipped") }
        XCTAssertThrowsError(try LoadedImage.load(fd: SampleImage.fd(inject(flags: 0)))) { e in
            XCTAssertTrue("\(e)".contains("unknown required section type 99"), "\(e)")
        }
    }

    func testHostileLengthsDoNotAllocate() throws {
        var bytes = try SampleImage.bytes()
        // Claim a 2^60-byte INVENTORY payload (header CRC fixed so only the size check can stop it).
        withUnsafeBytes(of: (UInt64(1) << 60).littleEndian) { for i in 0..<8 { bytes[64 + 8 + i] = $0[i] } }
        let crc = CRC32C.checksum(Array(bytes[64..<92]))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[92 + i] = $0[i] } }
        XCTAssertThrowsError(try LoadedImage.load(fd: SampleImage.fd(bytes))) { e in
            XCTAssertTrue("\(e)".contains("exceeds"), "\(e)")
        }
    }

    /// The three-lane path (buffers of 12 KiB and more) must equal the byte-wise table CRC.
    func testCRC32CLanesMatchTheDefinition() {
        var rng = SystemRandomNumberGenerator()
        for size in [12288, 12289, 12351, 65536 + 7, 1 << 20, 3 * 4096 * 5 + 100] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var table: UInt32 = 0xFFFF_FFFF
            for b in bytes { table = CRC32C.table[Int((table ^ UInt32(b)) & 0xFF)] ^ (table >> 8) }
            XCTAssertEqual(CRC32C.checksum(bytes), table ^ 0xFFFF_FFFF, "size \(size)")
            var split = CRC32C()
            bytes[0..<5000].withUnsafeBytes { split.update($0) }
            bytes[5000...].withUnsafeBytes { split.update($0) }
            XCTAssertEqual(split.value, table ^ 0xFFFF_FFFF, "split, size \(size)")
        }
    }

    func testCRC32CKnownAnswer() {
        // RFC 3720 B.4: 32 bytes of zeros -> 0x8A9136AA; "123456789" -> 0xE3069283.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
    }

    /// The committed sample of `version`, loaded and checked; written anew by
    /// `write` first when SWIFTCR_WRITE_SAMPLES names that version.
    static func committedSample(_ version: String, write: (Int32) throws -> Void) throws -> (LoadedImage, String) {
        let path = samplePath(version)
        if ProcessInfo.processInfo.environment["SWIFTCR_WRITE_SAMPLES"] == version {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            defer { close(fd) }
            try write(fd)
        }
        let image = try LoadedImage.load(path: path, verify: true)
        XCTAssertEqual(image.version, version)
        return (image, path)
    }

    static func samplePath(_ version: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/images/sample-v\(version).swiftcr").path
    }

    /// Every version ever written stays readable: the committed v1.0 sample
    /// (written before ZOMBIE records existed).
    func testCommittedV1_0SampleStaysReadable() throws {
        let image = try LoadedImage.load(path: Self.samplePath("1.0"), verify: true)
        XCTAssertEqual(image.version, "1.0")
        XCTAssertEqual(image.inventory, SampleImage.inventory)
        XCTAssertEqual(image.processes, [SampleImage.process])
        XCTAssertEqual(image.zombies, [])
        XCTAssertEqual(image.pageRuns.count, 3)
    }

    /// The v1.1 sample adds a ZOMBIE record. SWIFTCR_WRITE_SAMPLES=1.N writes
    /// the sample of version 1.N (only ever when 1.N is the current version).
    func testCommittedV1_1SampleStaysReadable() throws {
        let (image, _) = try Self.committedSample("1.1") { try SampleImage.write(to: $0, withZombie: true) }
        XCTAssertEqual(image.processes, [SampleImage.process])
        XCTAssertEqual(image.zombies, [SampleImage.zombie])
        XCTAssertEqual(image.pageRuns.count, 3)
    }

    /// The v1.2 sample: each descriptor kind's state in its own payload record.
    func testCommittedV1_2SampleStaysReadable() throws {
        let (image, _) = try Self.committedSample("1.2") { try SampleImage.write(to: $0, withZombie: true, withPayloads: true) }
        XCTAssertEqual(image.processes, [SampleImage.processWithPayloads])
        XCTAssertEqual(image.processes.first?.files.filter { $0.payload != .none }.count, 10)
        XCTAssertEqual(image.tree, SampleImage.tree)
        XCTAssertEqual(image.zombies, [SampleImage.zombie])
    }

    /// The v1.3 sample: socket options, owners, leases, the new descriptor kinds, capabilities,
    /// a shared fd table and a terminal. SWIFTCR_WRITE_SAMPLES=1.3 writes it.
    func testCommittedV1_3SampleStaysReadable() throws {
        let (image, _) = try Self.committedSample("1.3") { try SampleImage.write(to: $0, withZombie: true, v13: true) }
        XCTAssertEqual(image.processes, [SampleImage.processV13])
        XCTAssertEqual(image.tree, SampleImage.tree)
        XCTAssertEqual(image.zombies, [SampleImage.zombie])
    }

    /// The v1.4 sample: a mapping with pages inherited copy-on-write from the
    /// parent. SWIFTCR_WRITE_SAMPLES=1.4 writes it.
    func testCommittedV1_4SampleStaysReadable() throws {
        let (image, _) = try Self.committedSample("1.4") { try SampleImage.write(to: $0, withZombie: true, v14: true) }
        XCTAssertEqual(image.processes, [SampleImage.processV14])
        XCTAssertFalse(image.processes.flatMap(\.mappings).allSatisfy { $0.inheritedRuns.isEmpty })
    }

    /// The v1.5 sample: an incremental image (its parent's path, ID and
    /// INDEX checksum; a mapping's pages left to the parent). SWIFTCR_WRITE_SAMPLES=1.5 writes it.
    func testCommittedV1_5SampleStaysReadable() throws {
        let (image, _) = try Self.committedSample("1.5") { try SampleImage.write(to: $0, withZombie: true, v15: true) }
        XCTAssertEqual(image.inventory, SampleImage.inventoryV15)
        XCTAssertEqual(image.processes, [SampleImage.processV15])
        XCTAssertEqual(image.processes.flatMap(\.mappings).flatMap(\.parentRuns), [3, 13, 17, 16])
    }

    /// The v1.6 sample: the v1.5 image with its pages in ZPAGES sections;
    /// every page reads back as in the uncompressed sample, through the
    /// stream and through the INDEX. SWIFTCR_WRITE_SAMPLES=1.6 writes it.
    func testCommittedV1_6SampleStaysReadable() throws {
        let (image, path) = try Self.committedSample("1.6") { try SampleImage.write(to: $0, withZombie: true, v15: true, compressed: true) }
        XCTAssertEqual(image.processes, [SampleImage.processV15])
        XCTAssertTrue(image.pageRuns.allSatisfy(\.compressed))
        XCTAssertTrue(ImageVerifier.verify(path: path).isEmpty, "\(ImageVerifier.verify(path: path))")
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let lookup = PageLookup(index: try ImageIndex.load(fd: fd), fd: fd)
        for r in SampleImage.runs {
            for k in 0..<r.pages {
                let address = r.address + k * 4096
                XCTAssertEqual(try lookup.page(pid: SampleImage.pid, address: address), SampleImage.page(address))
            }
        }
        XCTAssertNil(try lookup.page(pid: SampleImage.pid, address: 0x60f000))
        // Streamed, each section decompresses to the sample's pages.
        lseek(fd, 0, SEEK_SET)
        let reader = try ImageReader(fd: fd)
        var pages = 0
        while let section = try reader.next() {
            guard case .pages(let p) = section else { continue }
            var offset = 0
            for run in p.runs {
                for k in 0..<run.pageCount {
                    XCTAssertEqual(Array(p.data[offset..<(offset + 4096)]), SampleImage.page(run.address + k * 4096))
                    offset += 4096
                    pages += 1
                }
            }
        }
        XCTAssertEqual(UInt64(pages), SampleImage.runs.reduce(0) { $0 + $1.pages })
    }

    /// A ZPAGES frame damaged under a valid CRC (a writer bug, not the disk)
    /// fails cleanly with the section's offset, streamed or looked up.
    func testADamagedFrameIsRefused() throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.samplePath("1.6"))))
        let fd = SampleImage.fd(bytes)
        let index = try ImageIndex.load(fd: fd)
        close(fd)
        guard let z = index.sections.first(where: { $0.type == SectionType.compressedPages.rawValue }) else { return XCTFail("no ZPAGES") }
        let payload = Int(z.offset) + ImageFormat.sectionHeaderSize
        let dataOffset = Int(LE.get(UInt64.self, bytes, at: payload + 8))
        bytes[payload + dataOffset + 20] ^= 0x55  // inside the frame
        let crc = CRC32C.checksum(Array(bytes[payload..<(payload + Int(z.length))]))
        withUnsafeBytes(of: crc.littleEndian) { for (k, b) in $0.enumerated() { bytes[payload + Int(z.length) + k] = b } }
        let damaged = SampleImage.fd(bytes)
        defer { close(damaged) }
        XCTAssertThrowsError(try LoadedImage.load(fd: damaged, verify: true)) { e in
            XCTAssertTrue("\(e)".contains("decompress") || "\(e)".contains("compressed"), "\(e)")
        }
        let lookup = PageLookup(index: try ImageIndex.load(fd: damaged), fd: damaged)
        XCTAssertThrowsError(try lookup.page(pid: SampleImage.pid, address: SampleImage.runs[0].address))
    }
}
