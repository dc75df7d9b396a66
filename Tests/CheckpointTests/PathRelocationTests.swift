import Checkpoint
import CheckpointImage
import XCTest

/// BLCR's --relocate rules, without any process.
final class PathRelocationTests: XCTestCase {
    func testWholeComponentsFirstMatchWins() throws {
        let r = try PathRelocation(arguments: ["/data/old=/data/new", "/data=/elsewhere", "/=/root"])
        XCTAssertEqual(r.apply("/data/old"), "/data/new")
        XCTAssertEqual(r.apply("/data/old/file"), "/data/new/file")
        XCTAssertEqual(r.apply("/data/older/file"), "/elsewhere/older/file")  // "old" is not a whole component of "older"
        XCTAssertEqual(r.apply("/tmp/x"), "/root/tmp/x")
        XCTAssertEqual(try PathRelocation(arguments: ["/a/=/b/"]).apply("/a/c"), "/b/c")
    }

    func testEscapes() throws {
        let r = try PathRelocation(arguments: ["/x\\=y=/z\\\\w"])
        XCTAssertEqual(r.pairs.first?.old, "/x=y")
        XCTAssertEqual(r.pairs.first?.new, "/z\\w")
    }

    /// A UNIX socket's own name and the name a datagram socket connects to
    /// both move; abstract names (leading NUL) do not.
    func testSocketNamesMove() throws {
        var bound = FileDescriptorState(fd: 3, kind: .unixSocket, path: "socket:[1]", flags: 2, closeOnExec: false, offset: 0)
        bound.payload = .unixSocket(UnixSocketRecord(type: 1, state: 10, peer: 0, address: Array("/run/old/server.sock".utf8)))
        var client = FileDescriptorState(fd: 4, kind: .unixSocket, path: "socket:[2]", flags: 2, closeOnExec: false, offset: 0)
        client.payload = .unixSocket(UnixSocketRecord(type: 2, state: 1, peer: 9, address: [0] + Array("abstract".utf8),
                                                      peerAddress: Array("/run/old/log".utf8)))
        let p = ProcessState(pid: 1, ppid: 0, pgid: 1, sid: 1, command: "x", executable: "/bin/x", uids: [], gids: [], groups: [],
                             umask: 0o22, cwd: "/", root: "/", personality: 0, rlimits: [], mm: .init(), auxv: [], signalActions: [],
                             sharedPending: [], threads: [], mappings: [], files: [bound, client], dumpable: 1, parentDeathSignal: 0)
        let moved = try PathRelocation(arguments: ["/run/old=/run/new"]).apply(to: p)
        XCTAssertEqual(moved.files[0].unixSocket?.address, Array("/run/new/server.sock".utf8))
        XCTAssertEqual(moved.files[1].unixSocket?.address, [0] + Array("abstract".utf8))
        XCTAssertEqual(moved.files[1].unixSocket?.peerAddress, Array("/run/new/log".utf8))
    }

    func testBadArgumentsSayWhy() {
        for bad in ["relative=/x", "/x=relative", "/no-equals", "/x=/y\\", "/x\\q=/y"] {
            XCTAssertThrowsError(try PathRelocation(arguments: [bad]), bad)
        }
        XCTAssertThrowsError(try PathRelocation(arguments: Array(repeating: "/a=/b", count: 17)))
        XCTAssertNoThrow(try PathRelocation(arguments: Array(repeating: "/a=/b", count: 16)))
    }
}
