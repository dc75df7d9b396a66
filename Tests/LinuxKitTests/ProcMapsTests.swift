import XCTest
@testable import LinuxKit

final class ProcMapsTests: XCTestCase {
    // Captured from real processes, with the odd cases hand-placed.
    let sample = """
    55d0c8a00000-55d0c8a02000 r--p 00000000 fe:00 253911                     /usr/bin/cat
    55d0c8a02000-55d0c8a07000 r-xp 00002000 fe:00 253911                     /usr/bin/cat
    55d0ca1d4000-55d0ca1f5000 rw-p 00000000 00:00 0                          [heap]
    7f1a2c000000-7f1a2c021000 rw-p 00000000 00:00 0                          [anon:glibc malloc arena]
    7f1a2d400000-7f1a2d401000 rw-s 00000000 00:01 1034                       /dev/zero (deleted)
    7f1a2d500000-7f1a2d501000 r--p 00000000 fe:00 4242                       /tmp/dir with spaces/data file.bin
    7f1a2d600000-7f1a2d601000 r--p 00001000 fe:00 4243                       /tmp/line\\012break (deleted)
    7f1a2d700000-7f1a2d701000 rw-s 00000000 00:01 77                         /memfd:shared (deleted)
    7f1a2d684000-7f1a2d688000 r--p 00000000 00:00 0                          [vvar]
    7f1a2d688000-7f1a2d68a000 r--p 00000000 00:00 0                          [vvar_vclock]
    7f1a2d68a000-7f1a2d68c000 r-xp 00000000 00:00 0                          [vdso]
    7ffe9afec000-7ffe9b00d000 rw-p 00000000 00:00 0                          [stack]
    ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
    7f1a2d800000-7f1a2d801000 ---p 00000000 00:00 0 
    """

    func testParsesEveryKind() throws {
        let maps = try ProcMaps.parse(sample)
        XCTAssertEqual(maps.count, 14)
        XCTAssertEqual(maps[0].start, 0x55d0c8a00000)
        XCTAssertEqual(maps[0].end, 0x55d0c8a02000)
        XCTAssertEqual(maps[0].path, "/usr/bin/cat")
        XCTAssertTrue(maps[0].isFileBacked)
        XCTAssertEqual(maps[1].protectionString, "r-xp")
        XCTAssertEqual(maps[1].offset, 0x2000)
        XCTAssertEqual(maps[1].deviceMajor, 0xfe)
        XCTAssertEqual(maps[1].inode, 253911)
        XCTAssertEqual(maps[2].path, "[heap]")
        XCTAssertFalse(maps[2].isFileBacked)
        XCTAssertEqual(maps[3].path, "[anon:glibc malloc arena]")
        XCTAssertEqual(maps[4].path, "/dev/zero")
        XCTAssertTrue(maps[4].deleted)
        XCTAssertTrue(maps[4].shared)
        XCTAssertEqual(maps[5].path, "/tmp/dir with spaces/data file.bin")
        XCTAssertFalse(maps[5].deleted)
        XCTAssertEqual(maps[6].path, "/tmp/line\nbreak")
        XCTAssertTrue(maps[6].deleted)
        XCTAssertEqual(maps[7].path, "/memfd:shared")
        XCTAssertTrue(maps[8].isKernelSpecial && maps[9].isKernelSpecial && maps[10].isKernelSpecial)
        XCTAssertEqual(maps[9].path, "[vvar_vclock]")
        XCTAssertEqual(maps[11].path, "[stack]")
        XCTAssertEqual(maps[12].path, "[vsyscall]")
        XCTAssertEqual(maps[12].start, 0xffffffffff600000)
        XCTAssertNil(maps[13].path)
        XCTAssertEqual(maps[13].protectionString, "---p")
    }

    func testSmapsFlags() throws {
        let text = """
        7ffe9afec000-7ffe9b00d000 rw-p 00000000 00:00 0                          [stack]
        Size:                132 kB
        Rss:                  16 kB
        VmFlags: rd wr mr mw me gd ac
        7f1a2d68a000-7f1a2d68c000 r-xp 00000000 00:00 0                          [vdso]
        Size:                  8 kB
        VmFlags: rd ex mr mw me de sd
        """
        let maps = try ProcMaps.parseSmaps(text)
        XCTAssertEqual(maps.count, 2)
        XCTAssertTrue(maps[0].vmFlags.contains("gd"))
        XCTAssertEqual(maps[1].vmFlags, ["rd", "ex", "mr", "mw", "me", "de", "sd"])
    }

    /// A hugetlb mapping is known by VmFlags "ht", its page size by KernelPageSize; others are 0.
    func testSmapsHugetlbPageSize() throws {
        let text = """
        7f3d47000000-7f3d47400000 rw-s 00000000 00:11 72827                      /anon_hugepage (deleted)
        Size:               4096 kB
        KernelPageSize:     2048 kB
        MMUPageSize:        2048 kB
        VmFlags: rd wr sh mr mw me ms de ht sd
        7f1a2d600000-7f1a2da00000 rw-p 00000000 00:00 0
        KernelPageSize:        4 kB
        VmFlags: rd wr mr mw me ac hg
        """
        let maps = try ProcMaps.parseSmaps(text)
        XCTAssertEqual(maps.map(\.kernelPageSize), [2 << 20, 4096])
        XCTAssertEqual(maps.map(\.hugetlbPageSize), [2 << 20, 0])
        XCTAssertEqual(try ProcMaps.parse(text.split(separator: "\n").first.map(String.init) ?? "").first?.hugetlbPageSize, 0)
    }

    func testBadLinesNameTheLine() {
        for bad in ["zzzz-1000 r--p 00000000 00:00 0", "1000-2000 rw 00000000 00:00 0", "2000-1000 r--p 0 00:00 0",
                    "1000-2000 r--p 00000000 0000 0", "1000-2000 r--p 00000000 00:00 x"] {
            XCTAssertThrowsError(try ProcMaps.parse("1000-2000 r--p 00000000 00:00 0\n" + bad)) { e in
                XCTAssertTrue("\(e)".contains("line 2"), "\(e)")
            }
        }
    }

    func testReadsOwnMaps() throws {
        let maps = try ProcMaps.parse(try Sys.readText("/proc/self/maps"))
        XCTAssertTrue(maps.contains { $0.path == "[stack]" })
        XCTAssertTrue(maps.contains { $0.path == "[vdso]" })
    }
}

final class ProcFileTests: XCTestCase {
    func testStatWithSpacesAndParensInComm() throws {
        let line = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 100 1000000 200 18446744073709551615 94000000000000 94000000010000 140700000000000 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94000000020000 94000000021000 94000001000000 140700000001000 140700000001100 140700000001100 140700000002000 0"
        let st = try ProcStat(parsing: line)
        XCTAssertEqual(st.pid, 1234)
        XCTAssertEqual(st.comm, "my (odd) prog")
        XCTAssertEqual(st.state, "S")
        XCTAssertEqual(st.ppid, 1)
        XCTAssertEqual(st.pgrp, 1234)
        XCTAssertEqual(st.threads, 1)
        XCTAssertEqual(st.startCode, 94000000000000)
        XCTAssertEqual(st.startStack, 140700000000000)
        XCTAssertEqual(st.startData, 94000000020000)
        XCTAssertEqual(st.startBrk, 94000001000000)
        XCTAssertEqual(st.envEnd, 140700000002000)
    }

    func testStatRejectsGarbage() {
        XCTAssertThrowsError(try ProcStat(parsing: "1234 no parens S 1"))
        XCTAssertThrowsError(try ProcStat(parsing: "1234 (x) S 1 2 3"))
    }

    func testOwnStat() throws {
        let st = try ProcStat.read(pid: getpid())
        XCTAssertEqual(st.pid, getpid())
        XCTAssertGreaterThan(st.startStack, 0)
    }

    func testStatusFields() {
        let s = ProcStatus(parsing: "Name:\tcat\nUmask:\t0027\nUid:\t1000\t1001\t1002\t1003\nSigBlk:\t0000000000010000\nTracerPid:\t0\n")
        XCTAssertEqual(s.umask, 0o027)
        XCTAssertEqual(s.ids("Uid"), [1000, 1001, 1002, 1003])
        XCTAssertEqual(s.signalSet("SigBlk"), 0x10000)
        XCTAssertEqual(s.tracerPid, 0)
    }

    func testFDInfo() throws {
        let info = try FDInfo(parsing: "pos:\t37\nflags:\t02100002\nmnt_id:\t25\nino:\t1234\n")
        XCTAssertEqual(info.position, 37)
        XCTAssertEqual(info.flags, 0o2100002)
        XCTAssertEqual(info.mountID, 25)
        XCTAssertThrowsError(try FDInfo(parsing: "flags:\t02\n"))
    }

    func testAuxvStopsAtNull() {
        var bytes: [UInt8] = []
        for v: UInt64 in [6, 4096, 33, 0x7fff0000, 0, 0, 99, 99] { withUnsafeBytes(of: v) { bytes += $0 } }
        let a = Auxv.parse(bytes)
        XCTAssertEqual(a.count, 2)
        XCTAssertEqual(a[0].type, 6)
        XCTAssertEqual(a[1].value, 0x7fff0000)
    }

    func testPagemapSeesTouchedPage() throws {
        let size = 4 * 4096
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else { return XCTFail("mmap") }
        defer { munmap(p, size) }
        p.storeBytes(of: 1, toByteOffset: 4096, as: UInt8.self)
        let pm = try Pagemap(pid: getpid())
        defer { pm.close() }
        let start = UInt64(UInt(bitPattern: p))
        let e = try pm.entries(start: start, end: start + UInt64(size))
        XCTAssertEqual(e.count, 4)
        XCTAssertEqual(e[0] & Pagemap.present, 0)
        XCTAssertNotEqual(e[1] & Pagemap.present, 0)
        XCTAssertEqual(e[1] & Pagemap.fileOrShared, 0)
    }

    func testErrnoCarriesCallName() {
        XCTAssertThrowsError(try Sys.readText("/proc/does-not-exist")) { e in
            XCTAssertTrue("\(e)".contains("open(/proc/does-not-exist)"))
            XCTAssertEqual((e as? SystemCallError)?.errno, .noSuchFileOrDirectory)
        }
    }

    func testMountInfo() throws {
        let text = """
        22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
        31 22 0:27 / /tmp/a\\040b rw,nosuid,nodev master:5 - tmpfs seeded rw,size=8192k,mode=751
        32 31 0:27 /d0 /tmp/a\\040b/view ro,relatime - tmpfs seeded rw,size=8192k,mode=751
        33 31 0:28 / /x rw shared:9 unbindable - proc proc rw
        """
        let mounts = try MountInfo.parse(text)
        XCTAssertEqual(mounts.map(\.id), [22, 31, 32, 33])
        XCTAssertEqual(mounts[1].mountPoint, "/tmp/a b")
        XCTAssertEqual(mounts[2].root, "/d0")
        XCTAssertEqual(mounts[1].superOptions, "rw,size=8192k,mode=751")
        XCTAssertEqual([mounts[1].major, mounts[1].minor], [0, 27])
        XCTAssertEqual(mounts[0].propagation, UInt64(MS_SHARED))
        XCTAssertEqual(mounts[1].propagation, UInt64(MS_SLAVE))
        XCTAssertEqual(mounts[3].propagation, UInt64(MS_SHARED | MS_UNBINDABLE))
        XCTAssertEqual(mounts[1].flags, UInt64(MS_NOSUID | MS_NODEV))
        XCTAssertEqual(mounts[2].flags, UInt64(MS_RDONLY | MS_RELATIME))
        XCTAssertTrue(mounts[2].readOnly)
        XCTAssertThrowsError(try MountInfo.parse("22 1 254:1 / / rw - ext4"))     // no superblock options
        XCTAssertThrowsError(try MountInfo.parse("22 1 254 / / rw - ext4 a b"))   // no minor
        XCTAssertThrowsError(try MountInfo.parse("x 1 254:1 / / rw - ext4 a b"))
    }
}
