import XCTest
@testable import CheckpointImage

/// The TREE section's PID, time and mount namespace records (tags 3, 4, 5),
/// PROCESS tags 40 and 41 and descriptor tag 28: seeded values survive a
/// round trip, damaged ones are refused.
final class NamespaceRecordTests: XCTestCase {
    func testNamespaceIDsAndTimeOffsetsRoundTrip() throws {
        var random = SeededRandom("namespace-records")
        for _ in 0..<200 {
            var tree = TreeState(omittedPIDs: [])
            for _ in 0..<random.next(40) {
                tree.namespaceIDs[Int32(1 + random.next(4_000_000))] = Int32(1 + random.next(32768))
            }
            if random.next(2) == 1 {
                tree.timeOffsets = [Int64(random.next(1 << 40)) - (1 << 39), Int64(random.next(1_000_000_000)),
                                    Int64(random.next(1 << 40)) - (1 << 39), Int64(random.next(1_000_000_000))]
            }
            let decoded = try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0))
            XCTAssertEqual(decoded, tree)
            XCTAssertEqual(decoded.ownPIDNamespace, !tree.namespaceIDs.isEmpty)

            var p = SampleImage.process
            p.timeNamespace = .init(own: random.next(2) == 1, children: random.next(2) == 1)
            XCTAssertEqual(try ProcessState(decoding: RecordDecoder(p.encode()[...], name: "process", base: 0)).timeNamespace, p.timeNamespace)
        }
    }

    func testDamagedNamespaceRecordsAreRefused() {
        let bad: [[UInt64]] = [[5], [5, 0], [0, 1], [UInt64(Int32.max) + 1, 1]]
        for values in bad {
            var e = RecordEncoder()
            e.u64s(3, values)
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(e.bytes[...], name: "tree", base: 0)), "\(values)")
        }
        for offsets in [[1, 2, 3], [0, 1_000_000_000, 0, 0], [0, 0, 0, UInt64.max]] as [[UInt64]] {
            var e = RecordEncoder()
            e.u64s(4, offsets)
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(e.bytes[...], name: "tree", base: 0)), "\(offsets)")
        }
        var p = RecordDecoderProbe.process(with: 40, [2, 0])
        XCTAssertThrowsError(try ProcessState(decoding: RecordDecoder(p[...], name: "process", base: 0)))
        p = RecordDecoderProbe.process(with: 40, [1])
        XCTAssertThrowsError(try ProcessState(decoding: RecordDecoder(p[...], name: "process", base: 0)))
    }

    func testMountNamespacesRoundTrip() throws {
        var random = SeededRandom("mount-namespace-records")
        let plans: [SavedMount.Plan] = [.inherited, .bindFrom(id: 31, path: "d0/sub"), .bindHost(path: "/tmp/x"), .fresh, .unsupported,
                                        .bindNamespace(namespace: 1, id: 40, path: "")]
        for _ in 0..<100 {
            var tree = TreeState(omittedPIDs: [])
            for _ in 0..<(1 + random.next(3)) {
                var mounts: [SavedMount] = []
                for k in 0..<(1 + random.next(6)) {
                    var m = SavedMount(id: Int32(20 + k), parent: Int32(19 + k), mountPoint: "/m\(random.next(100))", root: "/", fsType: "tmpfs",
                                       source: "s\(k)", superOptions: "rw,size=\(random.next(9999))k", flags: random.next(64),
                                       propagation: random.next(2) << 20, plan: plans[Int(random.next(UInt64(plans.count)))])
                    m.device = random.next(1 << 40)
                    m.hostPeer = random.next(3)
                    m.peerGroup = random.next(2) == 0 ? 0 : 1 + random.next(1 << 20)
                    m.masterGroup = random.next(2) == 0 ? 0 : 1 + random.next(1 << 20)
                    for j in 0..<random.next(4) {
                        var f = SavedFile(path: "d/f\(j)", kind: .regular, mode: UInt32(random.next(0o7777)), uid: UInt32(random.next(70000)),
                                          gid: 5, modified: (Int64(random.next(1 << 33)), Int64(random.next(999_999_999))))
                        f.data = (0..<random.next(300)).map { _ in UInt8(random.next(256)) }
                        m.files.append(f)
                    }
                    mounts.append(m)
                }
                tree.mountNamespaces.append(MountNamespaceState(mounts: mounts))
            }
            let decoded = try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0))
            XCTAssertEqual(decoded, tree)

            var p = SampleImage.process
            p.mountNamespace = Int(random.next(4))
            p.files[0].mountNamespace = random.next(2) == 1 ? Int(random.next(4)) : nil
            var inotify = FileDescriptorState(fd: 9, kind: .inotify, path: "anon_inode:inotify", flags: 0, closeOnExec: false, offset: 0, inode: 3)
            inotify.payload = .inotify(InotifyRecord(watches: [.init(wd: 1, mask: 8, path: "/w/f", mountNamespace: Int(random.next(3))),
                                                              .init(wd: 2, mask: 8, path: "/w/g")]))
            p.files.append(inotify)
            let q = try ProcessState(decoding: RecordDecoder(p.encode()[...], name: "process", base: 0))
            XCTAssertEqual(q.mountNamespace, p.mountNamespace)
            XCTAssertEqual(q.files[0].mountNamespace, p.files[0].mountNamespace)
            XCTAssertEqual(q.files.last?.payload, inotify.payload)
        }
    }

    func testDamagedMountNamespacesAreRefused() {
        func tree(_ build: (inout RecordEncoder) -> Void) -> [UInt8] {
            var e = RecordEncoder()
            e.record(5) { ns in ns.record(1) { build(&$0) } }
            return e.bytes
        }
        func mount(_ e: inout RecordEncoder, point: String = "/m", plan: UInt64 = 3) {
            e.i64(1, 5); e.i64(2, 4); e.string(3, point); e.string(4, "/"); e.string(5, "tmpfs"); e.u64(10, plan)
        }
        let bad: [[UInt8]] = [
            tree { mount(&$0, point: "relative") },       // mount point not absolute
            tree { mount(&$0, plan: 9) },                 // unknown plan
            tree { mount(&$0, plan: 2) },                 // a host bind without its path
            tree { mount(&$0, plan: 5) },                 // a namespace bind without its namespace
            tree { e in mount(&e); e.record(13) { $0.string(1, "../etc/passwd"); $0.u64(2, 2); $0.i64(6, 0); $0.i64(7, 0) } },
            tree { e in mount(&e); e.record(13) { $0.string(1, "/abs"); $0.u64(2, 2); $0.i64(6, 0); $0.i64(7, 0) } },
            tree { e in mount(&e); e.record(13) { $0.string(1, "x"); $0.u64(2, 99); $0.i64(6, 0); $0.i64(7, 0) } },
            tree { e in mount(&e); e.u64(16, 3) },      // no such tie to the checkpointer's mounts
            { var e = RecordEncoder(); e.record(5) { _ in }; return e.bytes }(),  // a namespace without mounts
        ]
        for (k, bytes) in bad.enumerated() {
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(bytes[...], name: "tree", base: 0)), "case \(k)")
        }
        var good = tree { mount(&$0) }
        XCTAssertNoThrow(try TreeState(decoding: RecordDecoder(good[...], name: "tree", base: 0)))
        good = RecordDecoderProbe.process(with: 41, [1 << 21])
        XCTAssertThrowsError(try ProcessState(decoding: RecordDecoder(good[...], name: "process", base: 0)))
    }
}

/// A sample PROCESS record with one more u64[] field.
enum RecordDecoderProbe {
    static func process(with tag: UInt16, _ values: [UInt64]) -> [UInt8] {
        var e = RecordEncoder()
        e.u64s(tag, values)
        return SampleImage.process.encode() + e.bytes
    }


    /// User namespaces (TREE tag 12, PROCESS tag 51): seeded maps of up to
    /// 340 disjoint ranges survive a round trip and parse back from the text
    /// written to uid_map; IDs outside turn into the ones inside.
    func testUserNamespacesRoundTrip() throws {
        var random = SeededRandom("user-namespaces")
        for _ in 0..<200 {
            func map() -> [UserNamespaceState.Range] {
                var ranges: [UserNamespaceState.Range] = []
                var inside: UInt64 = random.next(1000), outside: UInt64 = random.next(1 << 20)
                for _ in 0..<(1 + random.next(UInt64(UserNamespaceState.maxRanges))) {
                    let count = 1 + random.next(5000)
                    guard inside + count <= UInt64(UInt32.max), outside + count <= UInt64(UInt32.max) else { break }
                    ranges.append(.init(inside: UInt32(inside), outside: UInt32(outside), count: UInt32(count)))
                    inside += count + random.next(100)
                    outside += count + random.next(1 << 16)
                }
                let cut = Int(random.next(UInt64(ranges.count + 1)))  // not sorted: the kernel keeps the order written
                return Array(ranges[cut...] + ranges[..<cut])
            }
            var tree = TreeState()
            for _ in 0..<(1 + random.next(3)) {
                tree.userNamespaces.append(UserNamespaceState(uidMap: map(), gidMap: map(), setgroupsAllowed: random.next(2) == 1, owner: UInt32(random.next(1 << 32))))
            }
            let decoded = try TreeState(decoding: RecordDecoder(tree.encode()[...], name: "tree", base: 0))
            XCTAssertEqual(decoded, tree)
            for ns in tree.userNamespaces {
                XCTAssertEqual(UserNamespaceState.parseMap(UserNamespaceState.text(ns.uidMap)), ns.uidMap)
                let r = ns.uidMap[Int(random.next(UInt64(ns.uidMap.count)))]
                let k = random.next(UInt64(r.count))
                XCTAssertEqual(UserNamespaceState.inside(UInt64(r.outside) + k, in: ns.uidMap), UInt64(r.inside) + k)
            }
            var p = SampleImage.process
            p.userNamespace = Int(1 + random.next(3))
            p.ownedByUserNamespace = random.next(1 << 32) & ProcessState.ownableNamespaces
            let back = try ProcessState(decoding: RecordDecoder(p.encode()[...], name: "process", base: 0))
            XCTAssertEqual(back.userNamespace, p.userNamespace)
            XCTAssertEqual(back.ownedByUserNamespace, p.ownedByUserNamespace)
        }
        // As the kernel prints them: right-aligned columns.
        XCTAssertEqual(UserNamespaceState.parseMap("         0     100000      65536\n     65536          0          1\n"),
                       [.init(inside: 0, outside: 100000, count: 65536), .init(inside: 65536, outside: 0, count: 1)])
        XCTAssertNil(UserNamespaceState.inside(5, in: [.init(inside: 0, outside: 100000, count: 65536)]))
    }

    func testDamagedUserNamespacesAreRefused() {
        let badMaps: [[UInt64]] = [[0, 1], [0, 0, 0], [0, 1, UInt64(UInt32.max)], [UInt64(UInt32.max), 0, 2], [1 << 32, 0, 1],
                                   [0, 0, 10, 5, 100, 10], Array(repeating: [0, 0, 1], count: 341).enumerated().flatMap { [UInt64($0.offset), 0, 1] }]
        for values in badMaps {
            var e = RecordEncoder()
            e.record(12) { $0.u64s(1, values) }
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(e.bytes[...], name: "tree", base: 0)), "\(values.prefix(9))")
        }
        for (tag, value) in [(3, UInt64(2)), (4, UInt64(1) << 32)] as [(UInt16, UInt64)] {
            var e = RecordEncoder()
            e.record(12) { $0.u64(tag, value) }
            XCTAssertThrowsError(try TreeState(decoding: RecordDecoder(e.bytes[...], name: "tree", base: 0)), "tag \(tag) \(value)")
        }
        // Namespaces of a user namespace: only network, IPC, UTS and mount (not PID, cgroup, time), and only with one (PROCESS tags 51, 52).
        for (user, owned) in [(1, UInt64(0x2000_0000)), (1, UInt64(0x0200_0000)), (1, UInt64(0x80)), (0, UInt64(0x0002_0000)),
                              (2, UInt64(0x1000_0000))] as [(UInt64, UInt64)] {
            var e = RecordEncoder()
            if user != 0 { e.u64(51, user) }
            e.u64(52, owned)
            XCTAssertThrowsError(try ProcessState(decoding: RecordDecoder((SampleImage.process.encode() + e.bytes)[...], name: "process", base: 0)), "\(user) \(owned)")
        }
        for text in ["0 1", "0 0 0\n", "a b c\n", "0 0 10\n5 100 10\n", "0 4294967295 2\n"] {
            XCTAssertNil(UserNamespaceState.parseMap(text), text)
        }
    }
}
