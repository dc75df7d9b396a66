import CheckpointImage
import Glibc
import LinuxKit
import XCTest
@testable import Checkpoint

/// The engine's decisions that need no kernel: played here with made-up
/// registers, maps lines, pagemap bits and descriptors, no ptrace.
final class PureLogicTests: XCTestCase {
    // MARK: binfmt_misc entries

    /// An entry as the kernel prints it (seeded magic, mask, offset,
    /// extension bytes, interpreter and flags) gives a "register" line that
    /// the kernel's own parsing turns back into the same entry.
    func testBinfmtMiscEntriesRegisterAgainAsTheyWere() throws {
        var random = SeededLCG(state: TestEnvironment.seed(for: "binfmt"))
        for _ in 0..<200 {
            let name = Array("entry\(random.next(1000))".utf8)
            let flags = Array("POCF".utf8).filter { _ in random.next(2) == 0 }
            var interpreter = Array("/bin/interp\(random.next(99))".utf8)
            if random.next(4) == 0 { interpreter += Array(":odd".utf8) }  // a separator other than ':' is needed
            let enabled = random.next(2) == 0
            var printed = Array((enabled ? "enabled\ninterpreter " : "disabled\ninterpreter ").utf8) + interpreter
                + Array("\nflags: ".utf8) + flags + [10]
            let magicType = random.next(2) == 0
            var magic: [UInt8] = [], mask: [UInt8] = [], offset = 0, ext: [UInt8] = []
            if magicType {
                magic = (0..<(1 + random.next(16))).map { _ in UInt8(random.next(256)) }
                if random.next(2) == 0 { mask = magic.map { _ in UInt8(random.next(256)) } }
                offset = Int(random.next(112))
                func hex(_ b: [UInt8]) -> [UInt8] { Array(b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined().utf8) }
                printed += Array("offset \(offset)\nmagic ".utf8) + hex(magic) + [10]
                if !mask.isEmpty { printed += Array("mask ".utf8) + hex(mask) + [10] }
            } else {
                // Any byte but NUL, newline, '/' (and the separator, which the line avoids).
                ext = (0..<(1 + random.next(20))).map { _ -> UInt8 in let b = UInt8(random.next(256)); return [0, 10, 47].contains(b) ? 49 : b }
                printed += Array("extension .".utf8) + ext + [10]
            }
            let line = try XCTUnwrap(BinfmtMiscEntries.registration(name: name, entry: printed), String(decoding: printed, as: UTF8.self))
            // The kernel's parse: the first byte separates seven fields; magic and mask unescaped for 'M'.
            let separator = line[0]
            let fields = line.dropFirst().split(separator: separator, omittingEmptySubsequences: false).map(Array.init)
            XCTAssertEqual(fields.count, 7, String(decoding: line, as: UTF8.self))
            guard fields.count == 7 else { continue }
            XCTAssertEqual(fields[0], name)
            XCTAssertEqual(fields[5], interpreter)
            XCTAssertEqual(fields[6], flags)
            func unescape(_ b: [UInt8]) -> [UInt8] {
                stride(from: 0, to: b.count, by: 4).compactMap { k in UInt8(String(decoding: b[(k + 2)..<(k + 4)], as: UTF8.self), radix: 16) }
            }
            if magicType {
                XCTAssertEqual(fields[1], Array("M".utf8))
                XCTAssertEqual(fields[2], Array(String(offset).utf8))
                XCTAssertEqual(unescape(fields[3]), magic)
                XCTAssertEqual(unescape(fields[4]), mask)
            } else {
                XCTAssertEqual(fields[1], Array("E".utf8))
                XCTAssertEqual(fields[3], ext)
            }
        }
        XCTAssertNil(BinfmtMiscEntries.registration(name: Array("x".utf8), entry: Array("enabled\nflags: \n".utf8)), "no interpreter")
        XCTAssertNil(BinfmtMiscEntries.registration(name: Array("x".utf8), entry: Array("enabled\ninterpreter /i\nflags: Z\nextension .a\n".utf8)))
    }

    // MARK: the restorer's own descriptors in a stub

    /// Parking numbers are distinct, free, at least 3 and under the limit:
    /// just above the highest where that fits, else the highest free ones
    /// (descriptors at the top of the limit, as valgrind's); none when the
    /// numbers under the limit are all taken. Seeded layouts.
    /// fdinfo's watch lines are hex throughout (the kernel's "wd:%x" and
    /// "fhandle-type:%x"): watch 10 is "a", watch 16 is "10", XFS's 64-bit
    /// inode handles are type 0x81.
    func testInotifyWatchNumbersAreReadAsHex() {
        let fdinfo = """
        pos:	0
        flags:	04000
        inotify wd:9 ino:3df9d sdev:fe00000 mask:300 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:9ddf030000000000
        inotify wd:a ino:3df9e sdev:fe00000 mask:100 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:9edf030000000000
        inotify wd:10 ino:3df9f sdev:fe00001 mask:2 ignored_mask:0 fhandle-bytes:c fhandle-type:81 f_handle:0102030405060708090a0b0c
        """
        let watches = InotifyWatches.parse(fdinfo)
        XCTAssertEqual(watches.map(\.wd), [9, 10, 16])
        XCTAssertEqual(watches.map(\.inode), [0x3df9d, 0x3df9e, 0x3df9f])
        XCTAssertEqual(watches.map(\.mask), [0x300, 0x100, 2])
        XCTAssertEqual(watches[0].handle, [0x9d, 0xdf, 3, 0, 0, 0, 0, 0])
        XCTAssertEqual(watches.map(\.handleType), [1, 1, 0x81])
        XCTAssertEqual(watches[2].handle, Array(1...12))
    }

    func testParkedDescriptorsAvoidTheProcessesNumbersAndStayUnderTheLimit() {
        var random = SeededLCG(state: TestEnvironment.seed(for: "descriptor-parking"))
        func next(_ bound: UInt64) -> UInt64 { random.next(bound) }
        for _ in 0..<500 {
            let limit = 8 + next(3000)
            var used: Set<UInt64> = [0, 1, 2]
            for _ in 0..<next(40) { used.insert(next(limit)) }
            if next(2) == 0 { used.insert(limit - 1 - next(4)) }  // at the top, as valgrind's
            let highest = used.max() ?? 2
            guard let slots = DescriptorParking.slots(4, used: used, highest: highest, limit: limit) else {
                XCTAssertLessThan(UInt64((3..<limit).filter { !used.contains($0) }.count), 4, "none found, with room under \(limit)")
                continue
            }
            XCTAssertEqual(Set(slots).count, 4)
            for n in slots {
                XCTAssertTrue(n >= 3 && n < limit && !used.contains(n), "slot \(n) of \(slots), limit \(limit), highest \(highest)")
            }
            if highest + 4 < limit { XCTAssertEqual(slots, [highest + 1, highest + 2, highest + 3, highest + 4]) }
        }
        XCTAssertNil(DescriptorParking.slots(4, used: Set(0..<10), highest: 9, limit: 10))
        XCTAssertEqual(DescriptorParking.slots(4, used: [0, 1, 2, 9], highest: 9, limit: 10), [5, 6, 7, 8])
    }

    // MARK: clearing a stub's memory

    /// Touching ranges become one munmap; the union is unchanged and no
    /// merged range covers a gap (where the trampoline may lie). Seeded:
    /// random layouts of touching and separate ranges, in random order.
    func testStubRangesMergeOnlyWhereTheyTouch() {
        var random = SeededLCG(state: TestEnvironment.seed(for: "stub-ranges"))
        func next(_ bound: UInt64) -> UInt64 { random.next(bound) }
        for _ in 0..<200 {
            var ranges: [(UInt64, UInt64)] = []
            var at: UInt64 = 0x400000
            for _ in 0..<(1 + next(40)) {
                if next(3) == 0 { at += (1 + next(8)) * 4096 }  // a gap
                let end = at + (1 + next(16)) * 4096
                ranges.append((at, end))
                at = end
            }
            var shuffled = ranges
            for k in shuffled.indices.reversed() { shuffled.swapAt(k, Int(next(UInt64(k + 1)))) }
            let merged = AddressSpaceRestorer.adjacentMerged(shuffled)
            func pages(_ rs: [(UInt64, UInt64)]) -> Set<UInt64> { Set(rs.flatMap { stride(from: $0.0, to: $0.1, by: 4096) }) }
            XCTAssertEqual(pages(merged), pages(ranges))
            for k in merged.indices.dropFirst() { XCTAssertLessThan(merged[k - 1].1, merged[k].0, "touching ranges left apart, or overlap") }
        }
    }

    // MARK: compressing page batches

    /// A batch whose samples do not shrink is taken as incompressible (and
    /// written plain without being compressed whole); one with a compressible
    /// part where a sample falls is compressed. Seeded random bytes and
    /// seeded text-like pages. (What the sampling saves is time:
    /// Benchmarks/compress.sh's random workload.)
    func testIncompressibleBatchesAreToldBySampling() throws {
        var state = TestEnvironment.seed(for: "compress-sampling")
        func next() -> UInt64 {  // splitmix64: all 64 bits random (random bytes must not shrink)
            state = state &+ 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        guard let pool = CompressorPool(level: 1) else { throw XCTSkip("zstd refuses level 1") }
        let count = 4 << 20, room = (PageCompressor.bound(count) + 4095) & ~4095
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count + room, alignment: 4096)
        defer { buffer.deallocate() }
        let words = ["page", "object", "dict", "list", "None", "str", "int", "frame", "code"]
        func fill(_ range: Range<Int>, random: Bool) {
            if random {
                for k in stride(from: range.lowerBound, to: range.upperBound, by: 8) { buffer.storeBytes(of: next(), toByteOffset: k, as: UInt64.self) }
            } else {
                var k = range.lowerBound
                while k < range.upperBound {
                    for b in words[Int(next() % UInt64(words.count))].utf8 where k < range.upperBound { buffer[k] = b; k += 1 }
                }
            }
        }
        let half = count / 2
        for (label, randomFirst, randomSecond, plain) in [("random", true, true, true), ("text", false, false, false),
                                                          ("random, then text", true, false, false), ("text, then random", false, true, false)] {
            fill(0..<half, random: randomFirst)
            fill(half..<count, random: randomSecond)
            let scratch = UnsafeMutableRawBufferPointer(rebasing: buffer[count..<(count + room)])
            let compressor = try pool.take()
            XCTAssertEqual(try MemoryDumper.CompressedFrame.looksIncompressible(buffer, count: count, scratch: scratch, compressor), plain, label)
            pool.giveBack(compressor)
            let frame = MemoryDumper.CompressedFrame()
            try frame.compress(buffer, count: count, room: count..<(count + room), with: pool)
            XCTAssertEqual(frame.kept == nil, plain, label)
        }
    }

    // MARK: the kernel's syscall restart rules

    func stopped(in nr: Int, result: Int64, rip: UInt64 = 0x1002) -> Registers {
        var r = Registers()
        r.orig_rax = UInt64(nr)
        r.rax = UInt64(bitPattern: result)
        r.rip = rip
        return r
    }

    func testRestartRulesFollowTheKernel() {
        let eintr = UInt64(bitPattern: -4)
        let handler = PendingHandler(restarts: false), restarting = PendingHandler(restarts: true)
        // (result, pending handler, expected rax, whether rip steps back over the syscall instruction)
        let cases: [(Int64, PendingHandler?, UInt64, Bool)] = [
            (-RestartErrno.restartNoIntr, handler, UInt64(NR.read), true),         // always restarted
            (-RestartErrno.restartSys, nil, UInt64(NR.read), true),
            (-RestartErrno.restartSys, restarting, UInt64(NR.read), true),         // SA_RESTART
            (-RestartErrno.restartSys, handler, eintr, false),
            (-RestartErrno.restartNoHand, nil, UInt64(NR.read), true),
            (-RestartErrno.restartNoHand, restarting, eintr, false),               // any handler interrupts
            (-RestartErrno.restartRestartBlock, nil, eintr, false),                // no restart block after a restore
            (-RestartErrno.restartRestartBlock, handler, eintr, false),
            (-4, nil, eintr, false),                                               // a finished call is left alone
            (7, nil, 7, false),
        ]
        for (k, (result, pending, rax, restarted)) in cases.enumerated() {
            let r = SyscallRestart.resume(stopped(in: NR.read, result: result), interruptingHandler: pending, canRestartBlock: false)
            XCTAssertEqual(r.rax, rax, "case \(k)")
            XCTAssertEqual(r.rip, restarted ? 0x1000 : 0x1002, "case \(k)")
            // A call redone or turned into EINTR is no longer in progress;
            // a finished one still shows its number, as the kernel shows it.
            XCTAssertEqual(r.orig_rax, k >= 8 ? UInt64(NR.read) : UInt64.max, "case \(k)")
        }
        // poll() is issued again with its own arguments; the live process gets restart_syscall.
        let poll = SyscallRestart.resume(stopped(in: NR.poll, result: -RestartErrno.restartRestartBlock), interruptingHandler: nil, canRestartBlock: false)
        XCTAssertEqual(poll.rax, UInt64(NR.poll))
        let live = SyscallRestart.resume(stopped(in: NR.nanosleep, result: -RestartErrno.restartRestartBlock), interruptingHandler: nil, canRestartBlock: true)
        XCTAssertEqual(live.rax, UInt64(NR.restart_syscall))
        // Not in a system call at all (orig_rax -1): untouched.
        var user = stopped(in: 0, result: -RestartErrno.restartSys)
        user.orig_rax = UInt64.max
        XCTAssertEqual(SyscallRestart.resume(user, interruptingHandler: handler, canRestartBlock: false).rax, user.rax)
    }

    func testTheFirstDeliverableHandledSignalInterrupts() {
        let actions: [Int32: (handler: UInt64, flags: UInt64)] = [2: (0x401000, 0), 10: (1, 0), 12: (0x402000, 0x1000_0000)]
        func bit(_ s: Int) -> UInt64 { UInt64(1) << UInt64(s - 1) }
        XCTAssertNil(SyscallRestart.interruptingHandler(pending: 0, blocked: 0, actions: actions))
        XCTAssertNil(SyscallRestart.interruptingHandler(pending: bit(2), blocked: bit(2), actions: actions), "blocked")
        XCTAssertNil(SyscallRestart.interruptingHandler(pending: bit(10), blocked: 0, actions: actions), "ignored")
        XCTAssertNil(SyscallRestart.interruptingHandler(pending: bit(15), blocked: 0, actions: actions), "default action")
        XCTAssertEqual(SyscallRestart.interruptingHandler(pending: bit(12), blocked: 0, actions: actions)?.restarts, true)
        XCTAssertEqual(SyscallRestart.interruptingHandler(pending: bit(2) | bit(12), blocked: 0, actions: actions)?.restarts, false, "lowest first")
    }

    // MARK: mapping classification

    func testMappingsAreClassifiedAsTheRestoreNeeds() throws {
        let lines: [(String, Mapping.Kind)] = [
            ("00400000-00401000 r-xp 00000000 fe:01 1234 /usr/bin/app", .privateFile),
            ("00601000-00602000 rw-p 00000000 00:00 0 [heap]", .anonymous),
            ("7f0000000000-7f0000001000 rw-s 00000000 fe:01 99 /srv/data", .sharedFile),
            ("7f0000001000-7f0000002000 rw-s 00000000 00:01 7 /dev/zero (deleted)", .sharedAnonymous),
            ("7f0000002000-7f0000003000 rw-s 00000000 00:01 8 /memfd:buf (deleted)", .sharedAnonymous),
            ("7f0000003000-7f0000004000 rw-p 00000000 00:01 8 /memfd:buf (deleted)", .privateShared),
            ("7f0000004000-7f0000005000 rw-s 00000000 00:01 32768 /SYSV5c000011 (deleted)", .sysvShm),
            ("7f0000005000-7f0000006000 r--p 00000000 fe:01 55 /tmp/gone (deleted)", .anonymous),
            ("7ffc00000000-7ffc00002000 r-xp 00000000 00:00 0 [vdso]", .vdso),
            ("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]", .kernelFixed),
        ]
        for (line, kind) in lines {
            let m = try XCTUnwrap(try ProcMaps.parse(line + "\n").first, line)
            XCTAssertEqual(MappingClassifier.kind(of: m), kind, line)
        }
    }

    func testWhichPagesAreSaved() {
        let present = Pagemap.present, swapped = Pagemap.swapped, file = Pagemap.fileOrShared, guardPage = Pagemap.guardRegion
        XCTAssertTrue(MappingClassifier.shouldSave(present, kind: .anonymous))
        XCTAssertTrue(MappingClassifier.shouldSave(swapped, kind: .anonymous))
        XCTAssertFalse(MappingClassifier.shouldSave(0, kind: .anonymous), "never touched")
        XCTAssertFalse(MappingClassifier.shouldSave(present | file, kind: .privateFile), "still the file's page")
        XCTAssertTrue(MappingClassifier.shouldSave(present, kind: .privateFile), "copied on write")
        XCTAssertTrue(MappingClassifier.shouldSave(0, kind: .sharedAnonymous), "another process may have filled it")
        XCTAssertFalse(MappingClassifier.shouldSave(present | file, kind: .sharedFile))
        XCTAssertFalse(MappingClassifier.shouldSave(guardPage | swapped, kind: .anonymous), "a guard page holds no data")
    }

    // MARK: descriptor kinds

    func descriptor(_ fd: Int32, _ link: String, mode: mode_t, size: Int = 0, blocks: Int? = nil, rdev: UInt64 = 0, outside: Int32? = nil, fdinfo: String = "") throws -> OpenDescriptor {
        var st = stat()
        st.st_mode = mode
        st.st_size = size
        st.st_blocks = (blocks ?? (size + 511) / 512)
        st.st_rdev = UInt(rdev)
        st.st_ino = 100 + UInt(fd)
        return OpenDescriptor(pid: 1, fd: fd, link: link, st: st, info: try FDInfo(parsing: "pos:\t0\nflags:\t02\nmnt_id:\t1\n"), fdinfo: fdinfo, outsideStdio: outside)
    }

    func testEachDescriptorIsClaimedByItsKind() throws {
        let cases: [(OpenDescriptor, any FileKind.Type)] = [
            (try descriptor(0, "/dev/pts/3", mode: S_IFCHR, outside: 0), InheritedFiles.self),
            (try descriptor(3, "/etc/passwd", mode: S_IFREG), RegularFiles.self),
            (try descriptor(4, "/tmp", mode: S_IFDIR), RegularFiles.self),
            (try descriptor(20, "/tmp/build (deleted)", mode: S_IFDIR), DeletedDirectories.self),
            (try descriptor(5, "/dev/null", mode: S_IFCHR), Devices.self),
            (try descriptor(6, "/dev/sda", mode: S_IFBLK), Nodes.self),
            (try descriptor(21, "/dev/console (deleted)", mode: S_IFCHR, rdev: Device.make(major: 5, minor: 1)), Nodes.self),
            (try descriptor(22, "/dev/ptmx", mode: S_IFCHR, rdev: Device.make(major: 5, minor: 2)), PtyMasters.self),
            (try descriptor(23, "/dev/net/tun", mode: S_IFCHR, rdev: Device.make(major: 10, minor: 200)), TunFiles.self),
            (try descriptor(24, "/tmp/link", mode: S_IFLNK), Nodes.self),
            (try descriptor(26, "anon_inode:[pidfd]", mode: 0, fdinfo: "Pid:\t42\nNSpid:\t42\n"), PidFDs.self),
            (try descriptor(27, "anon_inode:[pidfd]", mode: 0, fdinfo: "Pid:\t-1\n"), PidFDs.self),
            (try descriptor(28, "net:[4026531840]", mode: S_IFREG), NamespaceFiles.self),
            (try descriptor(7, "pipe:[77]", mode: S_IFIFO), Pipes.self),
            (try descriptor(8, "/run/fifo", mode: S_IFIFO), FIFOs.self),
            (try descriptor(9, "/memfd:x (deleted)", mode: S_IFREG), MemFDs.self),
            (try descriptor(10, "/tmp/log (deleted)", mode: S_IFREG, size: 10), UnlinkedFiles.self),
            (try descriptor(11, "/tmp/huge (deleted)", mode: S_IFREG, size: 1 << 30), UnsupportedFiles.self),
            (try descriptor(25, "/tmp/sparse (deleted)", mode: S_IFREG, size: 1 << 30, blocks: 16), UnlinkedFiles.self),
            (try descriptor(12, "anon_inode:inotify", mode: 0), InotifyInstances.self),
            (try descriptor(13, "socket:[5]", mode: S_IFSOCK), Sockets.self),
            (try descriptor(14, "anon_inode:[eventfd]", mode: 0, fdinfo: "eventfd-count: 3\neventfd-semaphore: 1\n"), EventFDs.self),
            (try descriptor(15, "anon_inode:[signalfd]", mode: 0, fdinfo: "sigmask:\t0000000000000200\n"), SignalFDs.self),
            (try descriptor(16, "anon_inode:[timerfd]", mode: 0, fdinfo: "clockid: 1\nticks: 0\nsettime flags: 0\nit_value: (0, 0)\nit_interval: (0, 0)\n"), TimerFDs.self),
            (try descriptor(17, "anon_inode:[eventpoll]", mode: 0, fdinfo: "tfd:        5 events:       19 data:                5  pos:0 ino:1 sdev:2\n"), EpollInstances.self),
            (try descriptor(18, "anon_inode:[eventfd]", mode: 0, fdinfo: "garbled"), UnsupportedFiles.self),
            (try descriptor(19, "anon_inode:[userfaultfd]", mode: 0), UnsupportedFiles.self),
        ]
        for (d, kind) in cases {
            XCTAssertTrue(FileKinds.claimant(of: d) == kind, "fd \(d.fd) \(d.link): claimed by \(FileKinds.claimant(of: d)), not \(kind)")
        }
    }

    func testEveryImageKindHasOneRestorer() {
        let all: [FileDescriptorState.Kind] = [.regular, .device, .inherited, .unsupported, .pipe, .unlinked, .eventfd, .signalfd,
                                               .timerfd, .epoll, .unixSocket, .inetSocket, .fifo, .memfd, .inotify, .tcpConnection, .deletedDirectory, .node, .pidfd, .namespace, .ptyMaster, .unknown]
        for kind in all {
            let owners = FileKinds.all.filter { $0.restores.contains(kind) }
            XCTAssertEqual(owners.count, 1, "\(kind) is restored by \(owners)")
        }
    }

    func testEachDescriptorsRestoreStep() {
        var first = FileDescriptorState(fd: 3, kind: .regular, path: "/a", flags: 2, closeOnExec: false, offset: 0)
        var dup = first
        dup.fd = 7
        dup.sharesWith = 3
        var inherited = FileDescriptorState(fd: 4, kind: .pipe, path: "pipe:[1]", flags: 0, closeOnExec: false, offset: 0)
        inherited.sameAs = [42, 9]
        var orphan = dup
        orphan.sharesWith = 5  // its first descriptor is not in the image: made on its own
        first.locks = []
        let files = [first, inherited, dup]
        if case .dup(3) = FileRestorer.step(for: dup, among: files) {} else { XCTFail("a dup is dup'ed") }
        if case .borrow(42, 9) = FileRestorer.step(for: inherited, among: files) {} else { XCTFail("a forked open file is borrowed") }
        if case .make(let k) = FileRestorer.step(for: first, among: files) { XCTAssertTrue(k == RegularFiles.self) } else { XCTFail() }
        if case .make(let k) = FileRestorer.step(for: orphan, among: files) { XCTAssertTrue(k == RegularFiles.self) } else { XCTFail() }
    }

    // MARK: restore order

    func testRestoreStagesKeepTheirOrderingRules() {
        let all = RestoreStage.allCases
        XCTAssertEqual(RestoreStage.beforePages + [.pages] + RestoreStage.afterPages, all)
        XCTAssertEqual(all.first, .checkCPU, "nothing changes before the CPU is known to fit")
        XCTAssertEqual(all.last, .registers, "final registers last")
        XCTAssertLessThan(RestoreStage.trampoline, .clearStub, "injected calls need an instruction once the stub's memory is gone")
        XCTAssertLessThan(RestoreStage.pages, .finishMappings, "read-only and guard pages after the data")
        XCTAssertLessThan(RestoreStage.files, .environment, "paths resolve before chdir/chroot")
        XCTAssertLessThan(RestoreStage.signals, .threads, "threads share the handlers")
        XCTAssertLessThan(RestoreStage.threads, .timers, "thread-directed timers name threads")
        XCTAssertLessThan(RestoreStage.scheduling, .credentials, "set from outside before the privileges drop")
        XCTAssertEqual(all.firstIndex(of: .credentials).map { all[$0...].dropFirst().map { $0 } }, [.seccomp, .dropTrampoline, .registers],
                       "after the credentials only seccomp, the trampoline's own unmap and the registers")
    }

    // MARK: the FIN sent for a peer that had closed

    /// The segment's checksum must verify: summed with its pseudo header it gives zero,
    /// for IPv4, IPv6, and an IPv4-mapped IPv6 connection (sent as IPv4).
    func testPeerFINSegmentChecksumVerifies() throws {
        func v4(_ ip: [UInt8], _ port: UInt16) -> [UInt8] { [2, 0, UInt8(port >> 8), UInt8(port & 0xff)] + ip + [UInt8](repeating: 0, count: 8) }
        func v6(_ ip: [UInt8], _ port: UInt16) -> [UInt8] { [10, 0, UInt8(port >> 8), UInt8(port & 0xff), 0, 0, 0, 0] + ip + [0, 0, 0, 0] }
        let loop6 = [UInt8](repeating: 0, count: 15) + [1]
        let mapped = [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, 1]
        for (peer, local, ipLength) in [(v4([127, 0, 0, 1], 8880), v4([127, 0, 0, 2], 40001), 4),
                                        (v6(loop6, 8880), v6(loop6, 40001), 16), (v6(mapped, 8880), v6(mapped, 1), 4)] {
            let from = try XCTUnwrap(InetEndpoint(peer)), to = try XCTUnwrap(InetEndpoint(local))
            XCTAssertEqual(from.ip.count, ipLength)
            let segment = PeerFIN.segment(from: from, to: to, sequence: 0xfffffff0, ack: 12345, window: 512)
            XCTAssertEqual(segment.count, 20)
            XCTAssertEqual(segment[13], 0x11, "FIN and ACK")
            let length: [UInt8] = [0, 20]
            let pseudo = ipLength == 4 ? from.ip + to.ip + [0, 6] + length : from.ip + to.ip + [0, 0] + length + [0, 0, 0, 6]
            XCTAssertEqual(PeerFIN.checksum(pseudo + segment), 0)
        }
        XCTAssertNil(InetEndpoint([1, 0, 0, 0]), "a UNIX address has no IP")
    }

    // MARK: mount namespaces: how each mount comes back

    /// A namespace with a root of its own keeps nothing of the copy: a
    /// mount equal to one of ours is bound from it, the rest as before.
    func testMountPlansForARootOfItsOwn() throws {
        let host = try MountInfo.parse("""
        22 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw
        40 22 0:30 / /tmp rw - tmpfs tmpfs rw
        41 22 0:5 / /proc rw - proc proc rw
        """)
        let mine = try MountInfo.parse("""
        90 80 254:1 /srv/rootfs / rw - ext4 /dev/vda1 rw
        91 90 0:5 / /proc rw - proc proc rw
        92 90 0:30 / /tmp rw - tmpfs tmpfs rw
        93 90 0:70 / /run rw - tmpfs run rw
        94 90 0:71 / /data rw - overlay ov rw,lowerdir=/srv/l1:/srv/l2,upperdir=/srv/u,workdir=/srv/w
        """)
        let plans = mine.indices.map { MountNamespaces.plan(mine[$0], earlier: mine[..<$0], host: host, ownRoot: true) }
        XCTAssertEqual(plans, [.bindHost(path: "/srv/rootfs"), .bindHost(path: "/proc"), .bindHost(path: "/tmp"), .fresh, .fresh])
        XCTAssertEqual(MountNamespaces.plan(mine[1], earlier: [], host: host), .inherited, "the same mount, in a namespace on our root")
        let saved = zip(mine, plans).map { m, p in
            SavedMount(id: m.id, parent: m.parent, mountPoint: m.mountPoint, root: m.root, fsType: m.fsType, source: m.source,
                       superOptions: m.superOptions, flags: 0, propagation: 0, plan: p)
        }
        XCTAssertEqual(MountNamespaceBuilder.sourcePaths(saved), ["/srv/l1", "/srv/l2", "/srv/u", "/srv/w"])
    }

    /// A mount made again on top of one the namespace has from ours (bubblewrap's
    /// proc on /proc: the same superblock) is a bind of the one below, not a
    /// second inherited mount the restart cannot find (it warned, and the
    /// process saw our /proc with the flags of its own instead); one of ours
    /// stacked twice is inherited twice.
    func testMountPlansForAMountStackedOnAnInheritedOne() throws {
        let host = try MountInfo.parse("""
        22 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw
        41 22 0:5 / /proc rw - proc proc rw
        42 22 0:30 / /tmp rw - tmpfs tmpfs rw
        43 42 0:30 / /tmp rw - tmpfs tmpfs rw
        """)
        let mine = try MountInfo.parse("""
        70 60 254:1 / / ro - ext4 /dev/vda1 rw
        72 70 0:5 / /proc ro - proc proc rw
        73 70 0:30 / /tmp rw - tmpfs tmpfs rw
        74 73 0:30 / /tmp rw - tmpfs tmpfs rw
        92 72 0:5 / /proc rw,nosuid - proc proc rw
        93 92 0:5 /irq /proc/irq ro - proc proc rw
        """)
        let plans = mine.indices.map { MountNamespaces.plan(mine[$0], earlier: mine[..<$0], host: host) }
        XCTAssertEqual(plans, [.inherited, .inherited, .inherited, .inherited, .bindFrom(id: 72, path: ""), .bindFrom(id: 72, path: "irq")])
    }

    /// The tmpfs a root of its own is built on hides what is under its
    /// directory: seeded sets of overlay directories never end under the
    /// one chosen, and the first that qualifies is taken.
    func testStagingDirectoryHidesNoSource() {
        var rng = PageRangeLogicTests.Generator(state: TestEnvironment.seed(for: "staging"))
        let candidates = MountNamespaceBuilder.stagingDirectories
        for _ in 0..<200 {
            let needed = (0..<Int.random(in: 0...4, using: &rng)).map { _ in
                (candidates.randomElement(using: &rng) ?? "/mnt") + "/" + String(Int.random(in: 0...99, using: &rng))
            } + (Bool.random(using: &rng) ? ["/srv"] : [])
            let present = Set(candidates.filter { _ in Int.random(in: 0..<4, using: &rng) != 0 })
            let chosen = MountNamespaceBuilder.stagingDirectory(avoiding: needed, isDirectory: { present.contains($0) })
            let eligible = candidates.filter { d in present.contains(d) && !needed.contains { MountNamespaces.within($0, d) != nil } }
            XCTAssertEqual(chosen, eligible.first, "needed \(needed), present \(present.sorted())")
        }
    }

    func testMountPlans() throws {
        let host = try MountInfo.parse("""
        22 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw
        40 22 0:30 / /tmp rw - tmpfs tmpfs rw
        """)
        let mine = try MountInfo.parse("""
        100 99 254:1 / / rw,relatime - ext4 /dev/vda1 rw
        101 100 0:50 / /w/seeded rw - tmpfs seeded rw
        102 101 0:50 /d0 /w/seeded/view ro - tmpfs seeded rw
        103 100 0:30 /jobs/7 /w/scratch rw - tmpfs tmpfs rw
        104 100 0:60 / /w/outer rw - tmpfs outer rw
        105 100 0:61 / /w/proc rw - proc proc rw
        106 100 8:17 / /w/disk rw - xfs /dev/sdb1 rw
        """)
        var other = SavedMount(id: 77, parent: 1, mountPoint: "/w/outer", root: "/", fsType: "tmpfs", source: "outer", superOptions: "rw",
                               flags: 0, propagation: 0, plan: .fresh)
        other.device = 60
        let plans = mine.indices.map { MountNamespaces.plan(mine[$0], earlier: mine[..<$0], host: host, others: [MountNamespaceState(mounts: [other])]) }
        XCTAssertEqual(plans, [.inherited, .fresh, .bindFrom(id: 101, path: "d0"), .bindHost(path: "/tmp/jobs/7"),
                               .bindNamespace(namespace: 1, id: 77, path: ""), .fresh, .unsupported])
        let tied = try MountInfo.parse("""
        1 0 0:1 / /a rw shared:4 - tmpfs a rw
        2 0 0:1 / /b rw master:4 - tmpfs a rw
        3 0 0:1 / /c rw shared:9 master:4 - tmpfs a rw
        4 0 0:1 / /d rw shared:7 - tmpfs a rw
        5 0 0:1 / /e rw - tmpfs a rw
        """)
        XCTAssertEqual(tied.map { MountNamespaces.hostPeer($0, hostGroups: [4, 5]) }, [1, 2, 2, 0, 0])
        XCTAssertEqual(MountNamespaces.within("/a/b", "/"), "a/b")
        XCTAssertEqual(MountNamespaces.within("/ab", "/a"), nil)
        XCTAssertEqual(MountNamespaces.within("/a", "/a"), "")
        XCTAssertEqual(MountNamespaces.join("/", "x"), "/x")
        XCTAssertEqual(MountNamespaces.join("/m", ""), "/m")
    }

    /// Seeded mount trees, made in an order where each mount comes after the
    /// one it sits on (some stacked at their parent's point), then listed as
    /// mountinfo lists them after MS_MOVE: a moved mount keeps its old place,
    /// before its new parent. The restart's order puts every mount after its
    /// parent, and leaves a creation order as it is.
    func testMountsAreMadeAfterTheMountTheySitOn() {
        var state = TestEnvironment.seed(for: "mount-order")
        func next(_ bound: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % UInt64(bound)) }
        for _ in 0..<300 {
            var made: [SavedMount] = [SavedMount(id: 10, parent: 1, mountPoint: "/r", root: "/", fsType: "tmpfs", source: "r", superOptions: "",
                                                 flags: 0, propagation: 0, plan: .fresh)]
            for k in 1..<(2 + next(12)) {
                let parent = made[next(made.count)]
                let point = next(4) == 0 ? parent.mountPoint : parent.mountPoint + "/d\(next(3))"
                made.append(SavedMount(id: Int32(10 + k), parent: parent.id, mountPoint: point, root: "/", fsType: "tmpfs", source: "m\(k)",
                                       superOptions: "", flags: 0, propagation: 0, plan: .fresh))
            }
            XCTAssertEqual(MountNamespaceBuilder.parentsFirst(made).map(\.id), made.map(\.id), "a creation order is kept")
            var listed = made
            for _ in 0..<next(3) {
                // Moved onto a mount made after it: it stays where it was listed.
                let k = next(listed.count)
                let moved = listed[k]
                let later = listed[(k + 1)...].filter { !Self.sitsOn($0, moved, in: listed) }
                guard !later.isEmpty else { continue }
                let onto = later[next(later.count)]
                listed[k].parent = onto.id
                listed[k].mountPoint = onto.mountPoint + "/moved\(k)"
            }
            let order = MountNamespaceBuilder.parentsFirst(listed)
            XCTAssertEqual(Set(order.map(\.id)), Set(listed.map(\.id)))
            let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($0.element.id, $0.offset) })
            for m in order where m.parent != 1 {
                XCTAssertLessThan(position[m.parent] ?? -1, position[m.id] ?? -1, "mount \(m.id) is made before \(m.parent), which it sits on")
            }
        }
    }

    /// Whether `m` is `base` or sits on it, however high (moving base onto it would make a loop).
    static func sitsOn(_ m: SavedMount, _ base: SavedMount, in mounts: [SavedMount]) -> Bool {
        var at: SavedMount? = m
        for _ in 0...mounts.count {
            guard let a = at else { return false }
            if a.id == base.id { return true }
            at = mounts.first { $0.id == a.parent }
        }
        return true
    }

    /// cr_restart --external in CRIU's syntax: what it names, and one line for what is wrong.
    func testExternalNetworkDevicesAreParsed() throws {
        XCTAssertEqual(try ExternalLink(parsing: "veth[eth0]:vethA@br0"), ExternalLink(kind: .veth, inside: "eth0", outside: "vethA", bridge: "br0"))
        XCTAssertEqual(try ExternalLink(parsing: "veth[eth0]:vethA"), ExternalLink(kind: .veth, inside: "eth0", outside: "vethA"))
        XCTAssertEqual(try ExternalLink(parsing: "macvlan[mv0]:br0"), ExternalLink(kind: .macvlan, inside: "mv0", outside: "br0"))
        XCTAssertEqual(try ExternalLink(parsing: "netdev[eth0]:ens3"), ExternalLink(kind: .netdev, inside: "eth0", outside: "ens3"))
        for bad in ["veth[eth0]", "veth[]:x", "vxlan[a]:b", "veth[eth0]:a@", "veth eth0:x", "netdev[a]:b@c", "veth[a/b]:c",
                    "veth[a]:\(String(repeating: "x", count: 16))", "mnt[/x]:y", "veth]a[:b"] {
            XCTAssertThrowsError(try ExternalLink(parsing: bad), bad) { e in
                XCTAssertTrue("\(e)".hasPrefix("--external \(bad):"), "\(e)")
                XCTAssertFalse("\(e)".contains("\n"))
            }
        }
    }
}

// MARK: vDSO symbols and the proxy for another kernel's vDSO

final class VDSOProxyLogicTests: XCTestCase {
    /// This process's own vDSO, as the kernel maps it.
    static func ownVDSO() throws -> [UInt8] {
        let maps = try Sys.readText("/proc/self/maps")
        guard let line = maps.split(separator: "\n").first(where: { $0.hasSuffix("[vdso]") }) else { throw XCTSkip("no vDSO") }
        let bounds = line.split(separator: " ")[0].split(separator: "-").compactMap { UInt(String($0), radix: 16) }
        guard bounds.count == 2 else { throw TestFailure("maps line \(line)") }
        return Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: bounds[0]), count: Int(bounds[1] - bounds[0])))
    }

    /// The functions glibc takes from the vDSO are found, inside the image.
    func testOwnVDSOsFunctionsAreFound() throws {
        let bytes = try Self.ownVDSO()
        let symbols = try VDSOSymbols(parsing: bytes)
        for name in ["__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_getcpu", "__vdso_clock_getres"] {
            guard let f = symbols.functions[name] else { XCTFail("\(name) missing from \(symbols.functions.keys.sorted())"); continue }
            XCTAssertGreaterThan(f.size, 0, name)
            XCTAssertLessThanOrEqual(f.offset + f.size, UInt64(bytes.count), name)
        }
        XCTAssertEqual(symbols.functions["clock_gettime"], symbols.functions["__vdso_clock_gettime"], "the alias is the same code")
    }

    /// Each function of the copy starts with a jump to the same function of
    /// the other vDSO: rel32 when near, an absolute jump when far; the rest
    /// of the bytes (ELF headers included) are the old vDSO's.
    func testProxyJumpsToEachFunctionOfTheNewVDSO() throws {
        let bytes = try Self.ownVDSO()
        let symbols = try VDSOSymbols(parsing: bytes)
        let seed = UInt64(time(nil))
        print("testProxyJumpsToEachFunctionOfTheNewVDSO seed \(seed)")
        var rng = SeededLCG(state: seed)
        for _ in 0..<8 {
            let oldStart = 0x7f00_0000_0000 + rng.next(1 << 20) * 4096
            let nearStart = oldStart - (1 + rng.next(1 << 18)) * 4096
            let near = try VDSOProxy(oldBytes: bytes, oldStart: oldStart, newSymbols: symbols, newStart: nearStart)
            let farStart = oldStart - (1 << 40)
            let far = try? VDSOProxy(oldBytes: bytes, oldStart: oldStart, newSymbols: symbols, newStart: farStart)
            var patched = Set<UInt64>()
            for (_, f) in symbols.functions {
                let at = Int(f.offset)
                XCTAssertEqual(near.code[at], 0xe9)
                let rel = near.code[(at + 1)..<(at + 5)].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
                XCTAssertEqual(oldStart + f.offset + 5 &+ UInt64(bitPattern: Int64(Int32(bitPattern: rel))), nearStart + f.offset)
                if let far, f.size >= 14 {
                    XCTAssertEqual(Array(far.code[at..<(at + 6)]), [0xff, 0x25, 0, 0, 0, 0])
                    let to = far.code[(at + 6)..<(at + 14)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
                    XCTAssertEqual(to, farStart + f.offset)
                }
                patched.insert(f.offset)
            }
            XCTAssertEqual(Array(near.code[0..<64]), Array(bytes[0..<64]), "the ELF header stays")
            let untouched = (0..<bytes.count).filter { k in !patched.contains { k >= Int($0) && k < Int($0) + 5 } }
            XCTAssertTrue(untouched.allSatisfy { near.code[$0] == bytes[$0] })
        }
    }

    /// A function the new vDSO lacks is refused in one line.
    func testMissingFunctionIsRefused() throws {
        let bytes = try Self.ownVDSO()
        var fewer = try VDSOSymbols(parsing: bytes)
        // The same image with __vdso_getcpu's name changed in .dynstr: that function is gone.
        var renamed = bytes
        let name = Array("__vdso_getcpu".utf8)
        if let at = (0..<(renamed.count - name.count)).first(where: { Array(renamed[$0..<($0 + name.count)]) == name }) { renamed[at + 2] = UInt8(ascii: "X") }
        fewer = try VDSOSymbols(parsing: renamed)
        XCTAssertNil(fewer.functions["__vdso_getcpu"])
        XCTAssertThrowsError(try VDSOProxy(oldBytes: bytes, oldStart: 0x7f00_0000_0000, newSymbols: fewer, newStart: 0x7f00_0010_0000)) { e in
            XCTAssertTrue("\((e as? VDSOProxy.Refusal)?.why ?? "")".contains("__vdso_getcpu"), "\(e)")
        }
    }

    /// Truncated, shifted and randomly damaged images throw; none traps.
    func testDamagedImagesThrowAndNeverTrap() throws {
        let bytes = try Self.ownVDSO()
        XCTAssertThrowsError(try VDSOSymbols(parsing: []))
        XCTAssertThrowsError(try VDSOSymbols(parsing: Array(bytes.prefix(63))))
        XCTAssertThrowsError(try VDSOSymbols(parsing: [0] + bytes))
        let seed = UInt64(time(nil))
        print("testDamagedImagesThrowAndNeverTrap seed \(seed)")
        var rng = SeededLCG(state: seed)
        for round in 0..<2000 {
            var damaged = Array(bytes.prefix(Int(rng.next(UInt64(bytes.count) + 1))))
            // Half the rounds damage the headers, half anywhere.
            let span = round % 2 == 0 ? 512 : damaged.count
            for _ in 0..<Int(rng.next(8)) where !damaged.isEmpty {
                damaged[Int(rng.next(UInt64(min(damaged.count, span))))] = UInt8(truncatingIfNeeded: rng.next(256))
            }
            _ = try? VDSOSymbols(parsing: damaged)
        }
    }
}

/// The seeded generator of these tests (a 64-bit LCG, Knuth's MMIX constants).
struct SeededLCG {
    var state: UInt64
    mutating func next(_ bound: UInt64) -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return (state >> 33) % bound
    }
}
