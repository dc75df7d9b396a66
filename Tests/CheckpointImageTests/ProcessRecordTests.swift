import XCTest
@testable import CheckpointImage

/// The issue-4 fields (timers, SysV objects, locks, sockets, memfd, FIFO)
/// survive encoding, and hostile values in them are refused, not trusted.
final class ProcessRecordTests: XCTestCase {
    static func richProcess() -> ProcessState {
        var p = SampleImage.process
        p.intervalTimers = IntervalTimers(values: [0, 500_000, 100, 0, 0, 0, 0, 0, 1, 2, 3, 4])
        p.posixTimers = [PosixTimer(id: 3, clock: -6, notify: 4, signal: 34, value: 0x10e1, thread: 812, interval: (0, 250), remaining: (600, 0))]
        var shm = SysVObject(kind: .sharedMemory, key: 0x5c00_0011, id: 98_310, mode: 0o1640, uid: 1000, gid: 100, size: 8192)
        shm.values = []
        var q = SysVObject(kind: .messageQueue, key: -1, id: 4, mode: 0o600, uid: 0, gid: 0, size: 12)
        q.messages = [(1, Array("alpha\0".utf8)), (7, [])]
        var sem = SysVObject(kind: .semaphores, key: 7, id: 9, mode: 0o600, uid: 0, gid: 0, size: 3)
        sem.values = [1, 4, 9]
        p.sysvObjects = [shm, q, sem]
        var sock = FileDescriptorState(fd: 5, kind: .unixSocket, path: "socket:[77]", flags: 0o4002, closeOnExec: false, offset: 0, inode: 77)
        sock.payload = .unixSocket(UnixSocketRecord(type: 1, state: 1, peer: 78, shutdown: 2, sendBuffer: 425_984, receiveBuffer: 425_984,
                                                    address: [0] + Array("abstract".utf8), queued: [Array("one".utf8), [], Array("three".utf8)]))
        var file = FileDescriptorState(fd: 6, kind: .regular, path: "/tmp/l", flags: 2, closeOnExec: true, offset: 0)
        file.locks = [.init(kind: .flock, write: true, start: 0, length: 0), .init(kind: .posix, write: false, start: 10, length: 5)]
        var tcp = FileDescriptorState(fd: 7, kind: .inetSocket, path: "socket:[80]", flags: 2, closeOnExec: false, offset: 0, inode: 80)
        tcp.payload = .inetSocket(InetSocketRecord(family: 2, type: 1, protocol: 6, listening: true, backlog: 16,
                                                   address: [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]))
        var ended = FileDescriptorState(fd: 8, kind: .inetSocket, path: "socket:[81]", flags: 2, closeOnExec: false, offset: 0, inode: 81)
        var endedRecord = InetSocketRecord(family: 2, type: 1, protocol: 6, listening: false, backlog: 0,
                                           address: [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                                           peerAddress: [2, 0, 0x9c, 0x40, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
        endedRecord.shutdown = 3
        endedRecord.unread = Array("unread before the reset".utf8)
        ended.payload = .inetSocket(endedRecord)
        ended.netNamespace = 2
        p.files += [ended, sock, file, tcp]
        p.noNewPrivs = true
        // Flags (u64) then one BPF instruction: ret ALLOW.
        p.threads[0].seccompFilters = [[2, 0, 0, 0, 0, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]]
        return p
    }

    func decode(_ bytes: [UInt8]) throws -> ProcessState {
        try ProcessState(decoding: RecordDecoder(bytes[...], name: "process", base: 0))
    }

    func testNewFieldsRoundTrip() throws {
        let p = Self.richProcess()
        XCTAssertEqual(try decode(p.encode()), p)
    }

    /// Senders of queued datagrams survive encoding; one of a message that
    /// is not queued, an empty name, or a message named twice is refused.
    func testDatagramSendersRoundTripAndBadOnesAreRefused() throws {
        var p = Self.richProcess()
        guard let k = p.files.firstIndex(where: { $0.kind == .unixSocket }), case .unixSocket(var r) = p.files[k].payload else {
            return XCTFail("no unix socket in the sample")
        }
        r.senders = [.init(message: 0, address: [0] + Array("asker".utf8)), .init(message: 2, address: Array("/run/x.sock".utf8))]
        p.files[k].payload = .unixSocket(r)
        XCTAssertEqual(try decode(p.encode()), p)
        for bad in [[UnixSocketRecord.Sender(message: 3, address: [1])], [.init(message: 1, address: [])],
                    [.init(message: 1, address: [1]), .init(message: 1, address: [2])]] {
            var q = r
            q.senders = bad
            var broken = p
            broken.files[k].payload = .unixSocket(q)
            XCTAssertThrowsError(try decode(broken.encode()), "\(bad)")
        }
    }

    /// A hugetlb mapping's and memfd's page size survive encoding; sizes that
    /// are no power of two, or that the mapping's bounds are not aligned to, are refused.
    func testHugePageSizes() throws {
        var p = Self.richProcess()
        p.mappings = [Mapping(start: 0x7f00_0020_0000, end: 0x7f00_0060_0000, protection: 3, shared: true, growsDown: false,
                              kind: .sharedAnonymous, path: "/anon_hugepage", offset: 0, device: 0x11, inode: 9)]
        p.mappings[0].hugePageSize = 2 << 20
        var memfd = FileDescriptorState(fd: 8, kind: .memfd, path: "/memfd:h (deleted)", flags: 2, closeOnExec: false, offset: 0, inode: 10)
        memfd.payload = .memfd(MemFDRecord(seals: 1, size: 2 << 20, mode: 0o600, hugePageSize: 2 << 20))
        p.files.append(memfd)
        XCTAssertEqual(try decode(p.encode()), p)
        for bad: UInt64 in [3 << 20, 4096, 4 << 20] {  // not a power of two; no huge page; bounds not 4 MiB aligned
            var q = p
            q.mappings[0].hugePageSize = bad
            XCTAssertThrowsError(try decode(q.encode()), "\(bad)")
        }
        var q = p
        q.files[q.files.count - 1].payload = .memfd(MemFDRecord(seals: 1, size: 2 << 20, hugePageSize: 3 << 20))
        XCTAssertThrowsError(try decode(q.encode()))
    }

    /// A UDP socket's queued datagrams (tag 10) survive encoding, empty ones
    /// and v6 senders included; a sender longer than a sockaddr, a cut field,
    /// or datagrams on a stream socket are refused.
    func testQueuedUDPDatagramsRoundTripAndBadOnesAreRefused() throws {
        var p = Self.richProcess()
        var r = InetSocketRecord(family: 2, type: 2, protocol: 17, listening: false, backlog: 0,
                                 address: [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
        let v4: [UInt8] = [2, 0, 0x30, 0x39, 127, 0, 0, 1] + [UInt8](repeating: 0, count: 8)
        let v6: [UInt8] = [10, 0, 0x30, 0x3a] + [UInt8](repeating: 0, count: 19) + [1, 0, 0, 0, 0]
        r.datagrams = [.init(sender: v4, data: [1, 2, 3]), .init(sender: v6, data: []), .init(sender: v4, data: [UInt8](repeating: 7, count: 1400))]
        var f = FileDescriptorState(fd: 9, kind: .inetSocket, path: "socket:[77]", flags: 2, closeOnExec: false, offset: 0, inode: 77)
        f.payload = .inetSocket(r)
        p.files.append(f)
        XCTAssertEqual(try decode(p.encode()), p)
        for bad in [InetSocketRecord.Datagram(sender: [UInt8](repeating: 2, count: 129), data: [1]), .init(sender: [2], data: [])] {
            var q = r
            q.datagrams = [bad]
            var broken = p
            broken.files[broken.files.count - 1].payload = .inetSocket(q)
            XCTAssertThrowsError(try decode(broken.encode()), "\(bad.sender.count)-byte sender")
        }
        var stream = r
        stream.type = 1
        var broken = p
        broken.files[broken.files.count - 1].payload = .inetSocket(stream)
        XCTAssertThrowsError(try decode(broken.encode()), "datagrams on a stream socket")
    }

    /// The [vdso]'s bytes (tag 23) survive encoding; bytes of another length
    /// or checksum than the mapping's, or on a mapping that is no vDSO, are refused.
    func testVDSOContentRoundTripsAndMismatchesAreRefused() throws {
        var rng = SeededRandom("vdso content")
        var bytes = (0..<8192).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var p = Self.richProcess()
        var vdso = Mapping(start: 0x7fff_f7fc_1000, end: 0x7fff_f7fc_3000, protection: 5, shared: false, growsDown: false,
                           kind: .vdso, path: "[vdso]", offset: 0, device: 0, inode: 0, contentChecksum: CRC32C.checksum(bytes))
        vdso.content = bytes
        p.mappings = [vdso]
        XCTAssertEqual(try decode(p.encode()), p)
        var other = p
        other.mappings[0].content = Array(bytes.prefix(4096))
        XCTAssertThrowsError(try decode(other.encode()), "half the bytes")
        bytes[17] ^= 1
        other.mappings[0].content = bytes
        XCTAssertThrowsError(try decode(other.encode()), "a changed byte")
        other = p
        other.mappings[0].kind = .anonymous
        XCTAssertThrowsError(try decode(other.encode()), "not a vDSO")
    }

    func testHostileValuesAreRefused() {
        var p = Self.richProcess()
        p.posixTimers[0].remainingNanoseconds = 2_000_000_000
        XCTAssertThrowsError(try decode(p.encode()))
        p = Self.richProcess()
        p.sysvObjects[2].values = [1]  // 3 semaphores, 1 value
        XCTAssertThrowsError(try decode(p.encode()))
        p = Self.richProcess()
        var sock = p.files[p.files.count - 3].unixSocket
        sock?.shutdown = 9  // only read and write can be shut down
        p.files[p.files.count - 3].payload = sock.map { .unixSocket($0) } ?? .none
        XCTAssertThrowsError(try decode(p.encode()))
        p = Self.richProcess()
        sock?.shutdown = 0
        sock?.address = [UInt8](repeating: 1, count: 300)
        p.files[p.files.count - 3].payload = sock.map { .unixSocket($0) } ?? .none
        XCTAssertThrowsError(try decode(p.encode()))
        p = Self.richProcess()
        p.files[p.files.count - 3].payload = .none  // a UNIX socket without its record
        XCTAssertThrowsError(try decode(p.encode()))
        p = Self.richProcess()
        p.threads[0].seccompFilters = [[0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]]  // not whole instructions
        XCTAssertThrowsError(try decode(p.encode()))
        p = Self.richProcess()
        p.threads[0].seccompFilters = [[UInt8](repeating: 0, count: 8)]  // flags, no instruction
        XCTAssertThrowsError(try decode(p.encode()))
    }
}

/// Cgroups (process and thread) and thread names: seeded round trips, and
/// paths that could leave the hierarchy refused.
final class CgroupRecordTests: XCTestCase {
    func decode(_ bytes: [UInt8]) throws -> ProcessState {
        try ProcessState(decoding: RecordDecoder(bytes[...], name: "process", base: 0))
    }

    func testSeededCgroupsAndThreadNamesRoundTrip() throws {
        var random = SeededRandom("cgroup-records")
        let hierarchies = ["", "cpu,cpuacct", "name=systemd", "pids", "name=zdtmtst.defaultroot", "memory"]
        for _ in 0..<200 {
            func path() -> String {
                let depth = Int(random.next() % 5)
                return depth == 0 ? "/" : (0..<depth).map { _ in "/" + String(random.next() % 100_000, radix: 36) + (random.next() % 3 == 0 ? ":x.scope" : "") }.joined()
            }
            var p = SampleImage.process
            p.cgroups = hierarchies.filter { _ in random.next() % 2 == 0 }.map { CgroupMembership(controllers: $0, path: path()) }
            if random.next() % 2 == 0 { p.threads[0].cgroups = [CgroupMembership(controllers: "pids", path: path())] }
            if random.next() % 2 == 0 { p.threads[0].name = String("worker-\(random.next())".prefix(15)) }
            XCTAssertEqual(try decode(p.encode()), p)
        }
    }

    /// CPU affinity and I/O priority per thread (seeded masks up to 8192
    /// CPUs and priorities); a mask without a CPU, or a class above 3, refused.
    func testSeededAffinityAndIOPriorityRoundTrip() throws {
        var random = SeededRandom("affinity-records")
        for _ in 0..<200 {
            var p = SampleImage.process
            let words = Int(random.next() % 129)
            p.threads[0].affinity = (0..<words).map { _ in random.next() % 3 == 0 ? 0 : random.next() }
            if !p.threads[0].affinity.isEmpty && !p.threads[0].affinity.contains(where: { $0 != 0 }) { p.threads[0].affinity[0] = 1 }
            p.threads[0].ioPriority = random.next() % 2 == 0 ? 0 : (random.next() % 3 + 1) << 13 | random.next() % 8
            XCTAssertEqual(try decode(p.encode()), p)
        }
        var p = SampleImage.process
        p.threads[0].affinity = [0, 0]
        XCTAssertThrowsError(try decode(p.encode()))
        p.threads[0].affinity = []
        p.threads[0].ioPriority = 4 << 13
        XCTAssertThrowsError(try decode(p.encode()))
    }

    /// A SCHED_DEADLINE thread's reservation and flags (seeded) round trip;
    /// other policies write none. Runtime under 1024 ns, runtime > deadline,
    /// deadline > period, a period of 2^63 ns or an unknown flag are refused.
    func testSeededDeadlineReservationsRoundTripAndBadOnesAreRefused() throws {
        var random = SeededRandom("deadline-records")
        for _ in 0..<200 {
            var p = SampleImage.process
            let deadline = random.next() % 2 == 0
            var s = ThreadState.Scheduling(policy: deadline ? 6 : UInt32(random.next() % 6), priority: 0, nice: 0)
            if random.next() % 2 == 0 { s.policy |= ThreadState.Scheduling.resetOnFork }
            if deadline {
                s.runtime = 1024 + random.next() % 10_000_000
                s.deadline = s.runtime + random.next() % 10_000_000
                s.period = s.deadline + random.next() % 10_000_000
                s.flags = random.next() & ThreadState.Scheduling.deadlineFlags
            }
            p.threads[0].scheduling = s
            XCTAssertEqual(try decode(p.encode()), p)
        }
        var good = ThreadState.Scheduling(policy: 6, priority: 0, nice: 0)
        (good.runtime, good.deadline, good.period, good.flags) = (1_000_000, 5_000_000, 10_000_000, 0x4)
        for change: (inout ThreadState.Scheduling) -> Void in [{ $0.runtime = 1000 }, { $0.runtime = 6_000_000 }, { $0.deadline = 20_000_000 },
                                                                { $0.flags = 0x8 }, { $0.period = 1 << 63 }] {
            var p = SampleImage.process
            var bad = good
            change(&bad)
            p.threads[0].scheduling = bad
            XCTAssertThrowsError(try decode(p.encode()), "\(bad)")
        }
        // A thread under another policy keeps no reservation.
        var p = SampleImage.process
        var fifo = good
        fifo.policy = 1
        p.threads[0].scheduling = fifo
        XCTAssertEqual(try decode(p.encode()).threads[0].scheduling?.runtime, 0, "not written for a thread that is not SCHED_DEADLINE")
    }

    /// A timerfd's settime flags round trip; a flag the kernel lacks is refused.
    func testTimerFDSettimeFlagsRoundTripAndUnknownOnesAreRefused() throws {
        var p = SampleImage.process
        var timer = FileDescriptorState(fd: 6, kind: .timerfd, path: "anon_inode:[timerfd]", flags: 0, closeOnExec: false, offset: 0)
        for flags: UInt64 in [0, 1, 3] {
            var r = TimerFDRecord(clock: 0, remaining: (3600, 5), interval: (0, 0), ticks: 0)
            r.settimeFlags = flags
            timer.payload = .timerfd(r)
            p.files = [timer]
            XCTAssertEqual(try decode(p.encode()), p)
        }
        var r = TimerFDRecord(clock: 0, remaining: (1, 0), interval: (0, 0), ticks: 0)
        r.settimeFlags = 4
        timer.payload = .timerfd(r)
        p.files = [timer]
        XCTAssertThrowsError(try decode(p.encode()))
    }

    /// NUMA memory policies of threads and mappings (seeded modes, flags and
    /// masks) round trip; a mode past 6, an unknown flag or a mask over 15
    /// words is refused.
    func testSeededMemoryPoliciesRoundTripAndBadOnesAreRefused() throws {
        var random = SeededRandom("memory-policies")
        for _ in 0..<100 {
            var p = SampleImage.process
            func policy() -> MemoryPolicy? {
                random.next() % 3 == 0 ? nil : MemoryPolicy(mode: random.next() % 7 | [0, 0x2000, 0x4000, 0x8000][Int(random.next() % 4)],
                                                             nodes: (0..<Int(random.next() % 16)).map { _ in random.next() })
            }
            p.threads[0].memoryPolicy = policy()
            p.mappings[0].memoryPolicy = policy()
            XCTAssertEqual(try decode(p.encode()), p)
        }
        for bad in [MemoryPolicy(mode: 7, nodes: [1]), MemoryPolicy(mode: 0x1003, nodes: [1]), MemoryPolicy(mode: 3, nodes: Array(repeating: 1, count: 16))] {
            var p = SampleImage.process
            p.threads[0].memoryPolicy = bad
            XCTAssertThrowsError(try decode(p.encode()))
            p = SampleImage.process
            p.mappings[0].memoryPolicy = bad
            XCTAssertThrowsError(try decode(p.encode()))
        }
    }

    /// Memory-deny-write-execute flags, the core dump filter and securebits
    /// round trip; flags the kernel has no meaning for, a filter over 32 bits
    /// or securebits past bit 11 are refused.
    func testMDWECoredumpFilterAndSecurebitsRoundTripAndBadOnesAreRefused() throws {
        var p = SampleImage.process
        for (flags, filter) in [(UInt64(0), UInt64?.none), (1, 0x33), (3, 0x1ff)] as [(UInt64, UInt64?)] {
            (p.memoryDenyWriteExecute, p.coredumpFilter) = (flags, filter)
            XCTAssertEqual(try decode(p.encode()), p)
        }
        for (flags, filter) in [(UInt64(2), UInt64(0x33)), (4, 0x33), (1, 1 << 33)] {
            (p.memoryDenyWriteExecute, p.coredumpFilter) = (flags, filter)
            XCTAssertThrowsError(try decode(p.encode()))
        }
        p = SampleImage.process
        p.secureBits = 0x73
        XCTAssertEqual(try decode(p.encode()), p)
        p.secureBits = 0x1000
        XCTAssertThrowsError(try decode(p.encode()))
    }

    /// A FIFO's owner round trips; one that is not a uid and a gid is refused.
    func testFIFOOwnerRoundTripsAndBadOnesAreRefused() throws {
        var p = SampleImage.process
        var fifo = FileDescriptorState(fd: 4, kind: .fifo, path: "/tmp/f", flags: 0, closeOnExec: false, offset: 0)
        fifo.payload = .fifo(FIFORecord(mode: 0o622, gone: true, owner: [999, 995]))
        p.files = [fifo]
        XCTAssertEqual(try decode(p.encode()), p)
        for bad: [UInt64] in [[1 << 32, 0], [5]] {
            p.files[0].payload = .fifo(FIFORecord(mode: 0o600, owner: bad))
            XCTAssertThrowsError(try decode(p.encode()))
        }
    }

    /// A saved file mapping's owner round trips; one that is not a uid and a gid is refused.
    func testSavedFileOwnerRoundTripsAndBadOnesAreRefused() throws {
        var random = SeededRandom("saved-file-owner")
        for _ in 0..<50 {
            var p = SampleImage.process
            p.mappings[0].savedWhole = true
            p.mappings[0].fileMode = UInt32(random.next() % 0o10000)
            p.mappings[0].fileOwner = [random.next() % (1 << 32), random.next() % (1 << 32)]
            XCTAssertEqual(try decode(p.encode()), p)
        }
        var p = SampleImage.process
        p.mappings[0].savedWhole = true
        p.mappings[0].fileOwner = [1 << 32, 0]
        XCTAssertThrowsError(try decode(p.encode()))
        p.mappings[0].fileOwner = [7]
        XCTAssertThrowsError(try decode(p.encode()))
    }

    /// A removed working directory's and a removed open directory's mode and
    /// owner round trip; a mode above 0o7777 or a short list is refused.
    func testRemovedDirectoryAttributesRoundTripAndBadOnesAreRefused() throws {
        var random = SeededRandom("removed-dirs")
        for _ in 0..<100 {
            var p = SampleImage.process
            p.cwd = "/tmp/gone (deleted)"
            p.deletedCwdAttributes = [random.next() % 0o10000, random.next() % 70_000, random.next() % 70_000]
            var dir = FileDescriptorState(fd: 9, kind: .deletedDirectory, path: "/tmp/x (deleted)", flags: 0, closeOnExec: false, offset: 0)
            dir.payload = .unlinked(UnlinkedFileRecord(mode: random.next() % 0o10000, uid: random.next() % 70_000, gid: random.next() % 70_000))
            p.files = [dir]
            XCTAssertEqual(try decode(p.encode()), p)
        }
        var p = SampleImage.process
        p.deletedCwdAttributes = [0o10000, 0, 0]
        XCTAssertThrowsError(try decode(p.encode()))
        p.deletedCwdAttributes = [0o755, 0]
        XCTAssertThrowsError(try decode(p.encode()))
    }

    /// Each thread's parent-death signal (seeded, 0-64) round trips; one
    /// above 64, in a thread or in the process, is refused.
    func testSeededParentDeathSignalsRoundTripAndNonSignalsAreRefused() throws {
        var random = SeededRandom("pdeathsig-records")
        for _ in 0..<100 {
            var p = SampleImage.process
            p.parentDeathSignal = random.next() % 65
            p.threads[0].parentDeathSignal = random.next() % 65
            XCTAssertEqual(try decode(p.encode()), p)
        }
        var p = SampleImage.process
        p.threads[0].parentDeathSignal = 65
        XCTAssertThrowsError(try decode(p.encode()))
        p.threads[0].parentDeathSignal = 0
        p.parentDeathSignal = 1 << 40
        XCTAssertThrowsError(try decode(p.encode()))
    }

    func testCgroupNamespacesRoundTrip() throws {
        var tree = TreeState()
        tree.cgroupNamespaces = [[CgroupMembership(controllers: "", path: "/job/a"), CgroupMembership(controllers: "pids", path: "/")], []]
        XCTAssertEqual(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)), tree)
        var p = SampleImage.process
        p.cgroupNamespace = 2
        XCTAssertEqual(try decode(p.encode()), p)
        tree.cgroupNamespaces = [[CgroupMembership(controllers: "", path: "/job/../..")]]
        XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)))
    }

    func testUTSNamespacesRoundTripAndLongNamesAreRefused() throws {
        var tree = TreeState()
        tree.utsNamespaces = [UTSNamespaceState(hostname: "box", domainname: "(none)"), UTSNamespaceState(hostname: String(repeating: "h", count: 64), domainname: "")]
        func decodeTree() throws -> TreeState { try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)) }
        XCTAssertEqual(try decodeTree(), tree)
        var p = SampleImage.process
        p.utsNamespace = 2
        XCTAssertEqual(try decode(p.encode()), p)
        tree.utsNamespaces[1].hostname += "x"
        XCTAssertThrowsError(try decodeTree())
    }

    func testIPCAndNetworkNamespacesRoundTrip() throws {
        var random = SeededRandom("ipc-net-records")
        for _ in 0..<50 {
            var tree = TreeState()
            tree.ipcNamespaces = Int(random.next() % 4)
            tree.sysvObjects = (0..<Int(random.next() % 4)).map { k in
                var o = SysVObject(kind: .messageQueue, key: Int32(k), id: Int32(k), mode: 0o600, uid: 0, gid: 0, size: 0)
                o.namespace = tree.ipcNamespaces == 0 ? 0 : Int(random.next() % UInt64(tree.ipcNamespaces + 1))
                return o
            }
            tree.netNamespaces = (0..<Int(random.next() % 3)).map { _ in
                NetNamespaceState(loopbackUp: random.next() % 2 == 0, otherInterfaces: random.next() % 2 == 0 ? [] : ["veth\(random.next() % 9)"],
                                  tunDevices: (0..<Int(random.next() % 3)).map { k in Self.randomTunDevice(&random, k) })
            }
            XCTAssertEqual(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)), tree)
            var p = SampleImage.process
            (p.ipcNamespace, p.netNamespace) = (tree.ipcNamespaces, tree.netNamespaces.count)
            XCTAssertEqual(try decode(p.encode()), p)
        }
        // A SysV object of a namespace the tree does not have.
        var tree = TreeState()
        tree.ipcNamespaces = 1
        tree.sysvObjects = [SysVObject(kind: .semaphores, key: 1, id: 1, mode: 0o600, uid: 0, gid: 0, size: 0)]
        tree.sysvObjects[0].namespace = 2
        XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)))
    }

    static func randomTunDevice(_ random: inout SeededRandom, _ k: Int) -> TunDevice {
        let tap = random.next() % 2 == 0
        let flags: UInt32 = (tap ? 0x2 : 0x1) | [0, 0x1000, 0x4000, 0x100, 0x800].reduce(0) { random.next() % 2 == 0 ? $0 | $1 : $0 }
        return TunDevice(name: "tun\(k)x\(random.next() % 1000)", index: Int32(random.next() % 1000), flags: flags,
                         owner: random.next() % 2 == 0 ? -1 : Int64(random.next() % 70000), group: random.next() % 2 == 0 ? -1 : Int64(random.next() % 70000),
                         mtu: UInt32(68 + random.next() % 9000), address: tap ? (0..<6).map { _ in UInt8(random.next() % 256) } : [], up: random.next() % 2 == 0)
    }

    static func randomAddress(_ random: inout SeededRandom, _ devices: [TunDevice]) -> SavedAddress {
        let v6 = random.next() % 2 == 0, size = v6 ? 16 : 4
        func bytes() -> [UInt8] { (0..<size).map { _ in UInt8(random.next() % 256) } }
        return SavedAddress(family: v6 ? 10 : 2, prefixLength: UInt8(random.next() % UInt64(size * 8 + 1)), flags: UInt32(random.next() % 0x800),
                            scope: UInt8(random.next() % 256), interface: random.next() % 3 == 0 ? "lo" : devices[0].name, local: bytes(),
                            peer: random.next() % 2 == 0 ? [] : bytes(), broadcast: random.next() % 2 == 0 ? [] : bytes(),
                            label: random.next() % 2 == 0 ? "" : "lo:\(random.next() % 10)")
    }

    static func randomRoute(_ random: inout SeededRandom, _ devices: [TunDevice]) -> SavedRoute {
        let v6 = random.next() % 2 == 0, size = v6 ? 16 : 4
        func bytes() -> [UInt8] { (0..<size).map { _ in UInt8(random.next() % 256) } }
        let type = UInt8([1, 6, 7, 8][Int(random.next() % 4)])
        // Any table but the local one (255), which is never saved.
        let table = UInt32(1 + random.next() % 999)
        return SavedRoute(family: v6 ? 10 : 2, destinationLength: UInt8(random.next() % UInt64(size * 8 + 1)), table: table >= 255 ? table + 1 : table,
                          proto: UInt8(random.next() % 256), scope: UInt8(random.next() % 256), type: type,
                          destination: random.next() % 2 == 0 ? [] : bytes(), gateway: random.next() % 2 == 0 ? [] : bytes(),
                          interface: type == 1 ? devices[0].name : "", priority: random.next() % 2 == 0 ? nil : UInt32(random.next() % 100000),
                          preferredSource: random.next() % 2 == 0 ? [] : bytes())
    }

    /// Addresses and routes no kernel has are refused.
    func testBadAddressesAndRoutesAreRefused() throws {
        let address = SavedAddress(family: 2, prefixLength: 24, flags: 0, scope: 0, interface: "tun0", local: [10, 0, 0, 1], peer: [], broadcast: [], label: "")
        let route = SavedRoute(family: 10, destinationLength: 48, table: 254, proto: 3, scope: 0, type: 1, destination: [UInt8](repeating: 0x20, count: 16),
                               gateway: [], interface: "tun0", priority: 7, preferredSource: [])
        func decodes(_ a: [SavedAddress], _ r: [SavedRoute]) -> Bool {
            var tree = TreeState()
            tree.netNamespaces = [NetNamespaceState(loopbackUp: true, otherInterfaces: [], addresses: a, routes: r)]
            return (try? TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0))) == tree
        }
        XCTAssertTrue(decodes([address], [route]))
        for change in [{ (a: inout SavedAddress) in a.family = 3 }, { $0.prefixLength = 33 }, { $0.local = [1, 2, 3] }, { $0.interface = "" },
                       { $0.peer = [1] }, { $0.label = String(repeating: "l", count: 16) }] {
            var a = address
            change(&a)
            XCTAssertFalse(decodes([a], []), "\(a)")
        }
        for change in [{ (r: inout SavedRoute) in r.family = 0 }, { $0.destinationLength = 129 }, { $0.table = 255 }, { $0.table = 0 },
                       { $0.type = 2 }, { $0.gateway = [1, 2, 3, 4] }, { $0.interface = "a b" }] {
            var r = route
            change(&r)
            XCTAssertFalse(decodes([], [r]), "\(r)")
        }
    }

    /// TUN/TAP devices and /dev/net/tun descriptors: seeded round trips, and values no device can have refused.
    /// An IPC namespace's settings round trip; a path not on the lists, a bad value or a namespace not counted is refused.
    func testIPCNamespaceSettingsRoundTripAndBadOnesAreRefused() throws {
        var random = SeededRandom("ipc-settings")
        for _ in 0..<20 {
            var tree = TreeState()
            tree.ipcNamespaces = Int(1 + random.next() % 3)
            tree.ipcSettings = (1...tree.ipcNamespaces).filter { _ in random.next() % 2 == 0 }.map { k in
                IPCNamespaceSettings(namespace: k, values: (IPCNamespaceSettings.limits + IPCNamespaceSettings.nextIDs).filter { _ in random.next() % 3 == 0 }
                    .map { ($0, "\(random.next() % 100000)") })
            }
            XCTAssertEqual(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)), tree)
        }
        for (namespace, value) in [(1, ("kernel/core_pattern", "|x")), (1, ("kernel/msgmax", "1\n2")), (1, ("../kernel/msgmax", "1")), (2, ("kernel/msgmax", "1"))] {
            var tree = TreeState()
            tree.ipcNamespaces = 1
            tree.ipcSettings = [IPCNamespaceSettings(namespace: namespace, values: [value])]
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)), "\(value)")
        }
    }

    /// veth, macvlan, bridge and dummy devices and firewall rules: seeded records round trip; bad ones are refused.
    func testVirtualDevicesRoundTripAndBadValuesAreRefused() throws {
        var random = SeededRandom("virtual-links")
        for _ in 0..<50 {
            let count = Int(1 + random.next() % 3)
            var tree = TreeState()
            tree.netNamespaces = (0..<count).map { k in
                var ns = NetNamespaceState(loopbackUp: random.next() % 2 == 0, otherInterfaces: [])
                ns.links = (0..<Int(random.next() % 5)).map { j in
                    let kind = VirtualLink.kinds[Int(random.next() % 4)]
                    var l = VirtualLink(name: "d\(k)x\(j)", index: Int32(2 + j), kind: kind, mtu: UInt32(random.next() % 9000),
                                        address: random.next() % 2 == 0 ? (0..<6).map { _ in UInt8(truncatingIfNeeded: random.next()) } : [],
                                        up: random.next() % 2 == 0, master: random.next() % 3 == 0 ? "br\(k)" : "")
                    if l.hasPeer {
                        l.peerNamespace = Int(random.next() % UInt64(count + 1))
                        l.peerIndex = Int32(random.next() % 100)
                        if l.peerNamespace == 0 { (l.peerName, l.peerMaster, l.peerUp) = ("h\(j)", random.next() % 2 == 0 ? "hb" : "", random.next() % 2 == 0) }
                        if kind == "macvlan" { l.macvlanMode = [1, 2, 4, 8, 16][Int(random.next() % 5)] }
                    }
                    return l
                }
                ns.firewall = FirewallRules.kinds.filter { _ in random.next() % 3 == 0 }.map { FirewallRules(kind: $0, text: "*filter\n-A INPUT -j DROP \(random.next())\nCOMMIT\n") }
                return ns
            }
            XCTAssertEqual(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)), tree)
        }
        let good = VirtualLink(name: "veth0", index: 3, kind: "veth", mtu: 1500, address: [2, 0, 0, 0, 0, 1], up: true, peerNamespace: 1, peerIndex: 4)
        var bad: [VirtualLink] = []
        for change in [{ (l: inout VirtualLink) in l.name = "" }, { $0.name = "a:b" }, { $0.kind = "vxlan" }, { $0.kind = "" }, { $0.mtu = 70000 },
                       { $0.master = "a b" }, { $0.peerName = String(repeating: "x", count: 16) }, { $0.peerNamespace = 2 }, { $0.macvlanMode = 0x100; $0.kind = "macvlan" }] {
            var l = good
            change(&l)
            bad.append(l)
        }
        for l in bad {
            var tree = TreeState()
            var ns = NetNamespaceState(loopbackUp: true, otherInterfaces: [])
            ns.links = [l]
            tree.netNamespaces = [ns]
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)), "\(l)")
        }
        for rules in [FirewallRules(kind: "ebtables", text: ""), FirewallRules(kind: "nft", text: "a\0b")] {
            var tree = TreeState()
            var ns = NetNamespaceState(loopbackUp: true, otherInterfaces: [])
            ns.firewall = [rules]
            tree.netNamespaces = [ns]
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)), "\(rules)")
        }
        var twice = TreeState()
        var ns = NetNamespaceState(loopbackUp: true, otherInterfaces: [], tunDevices: [TunDevice(name: "veth0", index: 9, flags: 1, owner: -1, group: -1, mtu: 1500, address: [], up: true)])
        ns.links = [good]
        twice.netNamespaces = [ns]
        XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(twice.encode()[...], name: "tree", base: 0)))
    }

    func testTunDevicesAndFilesRoundTripAndBadValuesAreRefused() throws {
        var random = SeededRandom("tun-records")
        for _ in 0..<50 {
            let devices = (0..<Int(1 + random.next() % 4)).map { Self.randomTunDevice(&random, $0) }
            var tree = TreeState()
            tree.netNamespaces = [NetNamespaceState(loopbackUp: true, otherInterfaces: [], tunDevices: devices,
                                                    addresses: (0..<Int(random.next() % 4)).map { _ in Self.randomAddress(&random, devices) },
                                                    routes: (0..<Int(random.next() % 4)).map { _ in Self.randomRoute(&random, devices) },
                                                    sysctls: [("ipv4/ip_forward", "1"), ("ipv4/ping_group_range", "0\t\(random.next() % 100000)"),
                                                              ("ipv4/conf/\(devices[0].name)/rp_filter", "\(random.next() % 3)")].filter { _ in random.next() % 2 == 0 })]
            XCTAssertEqual(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)), tree)
            var p = SampleImage.process
            var f = FileDescriptorState(fd: 9, kind: .tun, path: "/dev/net/tun", flags: 2, closeOnExec: random.next() % 2 == 0, offset: 0, inode: 77)
            let attached = random.next() % 3 != 0
            f.payload = .tun(TunFileRecord(device: attached ? devices[0].name : "", flags: attached ? devices[0].flags : 0,
                                           detached: attached && random.next() % 2 == 0))
            p.files.append(f)
            XCTAssertEqual(try decode(p.encode()), p)
        }
        let good = TunDevice(name: "tap0", index: 2, flags: 0x2, owner: -1, group: -1, mtu: 1500, address: [2, 0, 0, 0, 0, 1], up: true)
        var bad: [TunDevice] = []
        for change in [{ (d: inout TunDevice) in d.name = "" }, { $0.name = "a/b" }, { $0.name = String(repeating: "x", count: 16) },
                       { $0.flags = 0x3 }, { $0.flags = 0x1000 }, { $0.flags = 0x2 | 0x8000 }, { $0.mtu = 70000 }, { $0.owner = -2 }] {
            var d = good
            change(&d)
            bad.append(d)
        }
        for d in bad {
            var tree = TreeState()
            tree.netNamespaces = [NetNamespaceState(loopbackUp: true, otherInterfaces: [], tunDevices: [d])]
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)), "\(d)")
        }
        for setting in [("../../kernel/core_pattern", "|x"), ("ipv4/conf/a b/forwarding", "1"), ("ipv4", "1"), ("ipv4/ip_forward", "1\n2"),
                        ("kernel/hostname", "x"), ("ipv4/conf/tun0/x/y", "1"), ("ipv4/ip_forward", String(repeating: "9", count: 300))] {
            var tree = TreeState()
            tree.netNamespaces = [NetNamespaceState(loopbackUp: true, otherInterfaces: [], sysctls: [setting])]
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)), "\(setting)")
        }
        var twice = TreeState()
        twice.netNamespaces = [NetNamespaceState(loopbackUp: true, otherInterfaces: [], tunDevices: [good, good])]
        XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(twice.encode()[...], name: "tree", base: 0)))
        for record in [TunFileRecord(device: "x y", flags: 1, detached: false), TunFileRecord(device: "tun0", flags: 0x3, detached: false)] {
            var p = SampleImage.process
            var f = FileDescriptorState(fd: 9, kind: .tun, path: "/dev/net/tun", flags: 2, closeOnExec: false, offset: 0, inode: 77)
            f.payload = .tun(record)
            p.files.append(f)
            XCTAssertThrowsError(try decode(p.encode()), "\(record)")
        }
    }

    /// Seeded message queue records and unlinked files' other names in a
    /// namespace survive encoding; names, limits and notifications no queue
    /// can have are refused.
    func testMessageQueuesAndUnlinkedNamesRoundTripAndBadValuesAreRefused() throws {
        var random = SeededRandom("message-queues")
        func queue(_ r: MessageQueueRecord, fd: Int32 = 9) -> ProcessState {
            var p = SampleImage.process
            var f = FileDescriptorState(fd: fd, kind: .messageQueue, path: r.name, flags: 2, closeOnExec: true, offset: 0, inode: 5)
            f.payload = .messageQueue(r)
            p.files.append(f)
            return p
        }
        for k in 0..<50 {
            var r = MessageQueueRecord(name: "/q\(random.next() % 1000)", maxMessages: 1 + random.next() % 10, messageSize: 1 + random.next() % 8192,
                                       mode: random.next() % 0o1000, uid: random.next() % 2 == 0 ? .max : random.next() % 70000, gid: random.next() % 70000)
            r.removed = random.next() % 2 == 0
            if random.next() % 2 == 0 { (r.notify, r.signal) = (random.next() % 2, 1 + random.next() % 64) }
            let p = queue(r)
            XCTAssertEqual(try decode(p.encode()), p, "queue \(k)")
            var u = UnlinkedFileRecord(mode: 0o600, uid: 0, gid: 0)
            u.livePath = "/t/keep/f\(k)"
            u.liveNamespace = Int(random.next() % 5)
            u.liveInSavedFiles = random.next() % 2 == 0
            var q = SampleImage.process
            var f = FileDescriptorState(fd: 4, kind: .unlinked, path: "/t/a/f (deleted)", flags: 2, closeOnExec: false, offset: 0, inode: 8)
            f.payload = .unlinked(u)
            f.fileContents = []
            q.files.append(f)
            XCTAssertEqual(try decode(q.encode()), q, "unlinked \(k)")
        }
        // Values a real queue gave, through the payload enum (a layout bug once read them as zeros).
        var exact = MessageQueueRecord(name: "/swiftcr-mq-17158-88327", maxMessages: 3, messageSize: 3759, mode: 416, uid: 0, gid: 0)
        exact.notify = 0
        exact.signal = 10
        XCTAssertEqual(try decode(queue(exact, fd: 3).encode()), queue(exact, fd: 3))
        let good = MessageQueueRecord(name: "/q", maxMessages: 10, messageSize: 8192, mode: 0o600, uid: 0, gid: 0)
        for change in [{ (r: inout MessageQueueRecord) in r.name = "q" }, { $0.name = "/" }, { $0.name = "/a/b" }, { $0.name = "/" + String(repeating: "x", count: 256) },
                       { $0.maxMessages = 0 }, { $0.messageSize = 0 }, { $0.mode = 0o10000 }, { $0.notify = 2 }, { $0.signal = 65; $0.notify = 0 }] {
            var r = good
            change(&r)
            XCTAssertThrowsError(try decode(queue(r).encode()), "\(r)")
        }
    }

    func testCgroupSettingsRoundTripAndUnlistedFilesAreRefused() throws {
        var tree = TreeState()
        tree.cgroupSettings = [CgroupSettings(cgroup: CgroupMembership(controllers: "", path: "/job"), values: [("cgroup.subtree_control", "cpu memory"), ("memory.max", "1048576")]),
                               CgroupSettings(cgroup: CgroupMembership(controllers: "cpuset", path: "/job/a"), values: [("cpuset.cpus", "0-1"), ("cpuset.mems", "0")])]
        func decodeTree() throws -> TreeState { try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)) }
        XCTAssertEqual(try decodeTree(), tree)
        for (file, controllers) in [("cgroup.procs", ""), ("../../etc/passwd", ""), ("memory.max", "cpuset")] {
            tree.cgroupSettings = [CgroupSettings(cgroup: CgroupMembership(controllers: controllers, path: "/job"), values: [(file, "1")])]
            XCTAssertThrowsError(try decodeTree(), file)
        }
    }

    /// Owners and modes of a cgroup made again, and a devices cgroup's
    /// rules: seeded values survive; an owner of a file not on the lists, or
    /// one that is not MODE:UID:GID, is refused.
    func testCgroupOwnersAndDeviceRulesRoundTrip() throws {
        var rng = SeededRandom("cgroup-owners")
        func owner() -> CgroupOwnership {
            CgroupOwnership(mode: UInt32(rng.next() % 0o10000), uid: UInt32(rng.next() % 70000), gid: UInt32(rng.next() % 70000))
        }
        var tree = TreeState()
        tree.cgroupSettings = [
            CgroupSettings(cgroup: CgroupMembership(controllers: "", path: "/job/empty"), values: [("pids.max", "7")], directory: owner(),
                           files: [("cgroup.procs", owner()), ("cgroup.subtree_control", owner()), ("pids.max", owner())]),
            CgroupSettings(cgroup: CgroupMembership(controllers: "net_cls,net_prio", path: "/job"),
                           values: [("net_cls.classid", "\(rng.next() % 1_000_000)"), ("net_prio.ifpriomap", "lo \(rng.next() % 100)\neth0 \(rng.next() % 100)")]),
            CgroupSettings(cgroup: CgroupMembership(controllers: "devices", path: "/job"), values: [], directory: owner(),
                           files: [("tasks", owner()), ("notify_on_release", owner())], devices: "c 1:3 rwm\nb 7:* r\n"),
        ]
        func decodeTree() throws -> TreeState { try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0)) }
        XCTAssertEqual(try decodeTree(), tree)
        tree.cgroupSettings[0].files = [("../escape", owner())]
        XCTAssertThrowsError(try decodeTree())
        tree.cgroupSettings[0].files = []
        var e = RecordEncoder()
        e.string(1, ":/job")
        for bad in ["755:0", "999:0:0", "x:1:2", "755:-1:0"] {
            var r = e
            r.string(3, bad)
            XCTAssertThrowsError(try CgroupSettings(decoding: RecordDecoder(r.bytes[...], name: "cgroup", base: 0)), bad)
        }
    }

    func testPathsOutOfTheHierarchyAreRefused() {
        for bad in ["/a/../../etc", "relative", "/a/./b", "/..", "/a\0b"] {
            var p = SampleImage.process
            p.cgroups = [CgroupMembership(controllers: "pids", path: bad)]
            XCTAssertThrowsError(try decode(p.encode()), bad)
        }
        var p = SampleImage.process
        p.threads[0].name = "a name longer than fifteen bytes"
        XCTAssertThrowsError(try decode(p.encode()))
    }
}
