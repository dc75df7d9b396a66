import XCTest
@testable import CheckpointImage

/// Images before 1.2 kept each kind's state in positional values (fd tag 15)
/// and socket fields (tags 17-20). They decode into the same typed records
/// a 1.2 image carries, and re-encode in the 1.2 layout without loss.
final class LegacyDescriptorTests: XCTestCase {
    /// An fd record as 1.0 and 1.1 writers wrote it.
    func legacy(_ kind: FileDescriptorState.Kind, values: [UInt64], address: [UInt8] = [], peer: [UInt8] = [],
                queued: [[UInt8]] = [], watches: [String] = []) -> [UInt8] {
        var e = RecordEncoder()
        e.i64(1, 5)
        e.u64(2, kind.rawValue)
        e.string(3, "anon")
        e.u64(4, 2)
        if !values.isEmpty { e.u64s(15, values) }
        if !address.isEmpty { e.raw(17, address) }
        for m in queued { e.raw(18, m) }
        if !peer.isEmpty { e.raw(19, peer) }
        for w in watches { e.string(20, w) }
        return e.bytes
    }

    func decode(_ bytes: [UInt8]) throws -> FileDescriptorState {
        try FileDescriptorState(decoding: RecordDecoder(bytes[...], name: "fd", base: 0))
    }

    func testEveryKindReadsIntoItsRecord() throws {
        let sun = Array("/run/s.sock".utf8), sin: [UInt8] = [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
        var tcp = TCPConnectionRecord(family: 2, address: sin, peerAddress: sin)
        (tcp.sendSequence, tcp.receiveSequence, tcp.mss, tcp.sendScale, tcp.receiveScale, tcp.options, tcp.timestamp) = (10, 20, 1460, 7, 8, 7, 99)
        (tcp.window.sndWl1, tcp.window.sndWnd, tcp.window.maxWindow, tcp.window.rcvWnd, tcp.window.rcvWup) = (1, 2, 3, 4, 5)
        (tcp.unsent, tcp.noDelay, tcp.queues) = (3, true, (Array("in".utf8), Array("out".utf8)))
        let cases: [([UInt8], DescriptorPayload)] = [
            (legacy(.eventfd, values: [41, 1]), .eventfd(EventFDRecord(count: 41, semaphore: true))),
            (legacy(.signalfd, values: [0x4002]), .signalfd(SignalFDRecord(mask: 0x4002))),
            (legacy(.timerfd, values: [1, 2, 3, 4, 5, 6]), .timerfd(TimerFDRecord(clock: 1, remaining: (2, 3), interval: (4, 5), ticks: 6))),
            (legacy(.epoll, values: [3, 1, 77, 4, 5, 88]), .epoll(EpollRecord(watches: [.init(fd: 3, events: 1, data: 77), .init(fd: 4, events: 5, data: 88)]))),
            (legacy(.unixSocket, values: [2, 1, 9, 2, 100, 200, 0], address: sun, peer: [0, 65], queued: [[1], [], [2, 3]]),
             .unixSocket(UnixSocketRecord(type: 2, state: 1, peer: 9, shutdown: 2, sendBuffer: 100, receiveBuffer: 200, backlog: 0,
                                          address: sun, peerAddress: [0, 65], queued: [[1], [], [2, 3]]))),
            (legacy(.inetSocket, values: [2, 1, 6, 1, 128], address: sin),
             .inetSocket(InetSocketRecord(family: 2, type: 1, protocol: 6, listening: true, backlog: 128, address: sin))),
            (legacy(.fifo, values: [0o640]), .fifo(FIFORecord(mode: 0o640))),
            (legacy(.memfd, values: [8, 4096]), .memfd(MemFDRecord(seals: 8, size: 4096))),
            (legacy(.inotify, values: [1, 0x100, 3, 0x2], watches: ["/tmp", "/etc"]),
             .inotify(InotifyRecord(watches: [.init(wd: 1, mask: 0x100, path: "/tmp"), .init(wd: 3, mask: 0x2, path: "/etc")]))),
            (legacy(.tcpConnection, values: [2, 10, 20, 1460, 7, 8, 7, 99, 1, 2, 3, 4, 5, 3, 1], address: sin, peer: sin,
                    queued: [Array("in".utf8), Array("out".utf8)]), .tcpConnection(tcp)),
        ]
        for (bytes, expected) in cases {
            let f = try decode(bytes)
            XCTAssertEqual(f.payload, expected, "\(f.typeName)")
            // The 1.2 layout carries the same record, and nothing of the old slots.
            var e = RecordEncoder()
            f.encode(into: &e)
            let again = try decode(e.bytes)
            XCTAssertEqual(again, f, "\(f.typeName) after re-encoding")
            let tags = Set(try RecordDecoder(e.bytes[...], name: "fd", base: 0).fields.map(\.tag))
            XCTAssertTrue(tags.isDisjoint(with: [15, 17, 18, 19, 20]), "\(f.typeName) wrote an old slot: \(tags.sorted())")
            XCTAssertTrue(tags.contains(22), "\(f.typeName) wrote no payload")
        }
    }

    /// The old layout's checks hold: too few values, odd triples, a TCP
    /// connection without both ends, watch paths that do not match their values.
    func testShortLegacyRecordsAreRefused() {
        let bad: [[UInt8]] = [
            legacy(.unixSocket, values: [1, 1]),
            legacy(.timerfd, values: [1, 2, 3]),
            legacy(.epoll, values: [3, 1]),
            legacy(.tcpConnection, values: Array(repeating: 0, count: 15), address: [2, 0]),
            legacy(.inotify, values: [1, 2, 3, 4], watches: ["/tmp"]),
            legacy(.inetSocket, values: [2, 1, 6, 0, 0], address: [UInt8](repeating: 1, count: 200)),
        ]
        for b in bad { XCTAssertThrowsError(try decode(b)) }
    }

    /// Before 1.2 the tree's SysV objects and omitted PIDs rode in the first PROCESS record.
    func testTreeObjectsOfOldImagesComeFromTheirProcessRecords() throws {
        var p = SampleImage.process
        var q = SysVObject(kind: .messageQueue, key: 5, id: 3, mode: 0o600, uid: 0, gid: 0, size: 0)
        q.messages = [(2, Array("hi".utf8))]
        p.sysvObjects = [q]
        p.omittedPIDs = [77]
        let decoded = try ProcessState(decoding: RecordDecoder(p.encode()[...], name: "process", base: 0))
        XCTAssertEqual(TreeState(legacy: [decoded]), TreeState(sysvObjects: [q], omittedPIDs: [77]))
    }
}
