import CheckpointImage
import XCTest

final class SocketAddressTests: XCTestCase {
    func testDescribesEveryKind() {
        XCTAssertEqual(SocketAddress.describe([]), "(unnamed)")
        XCTAssertEqual(SocketAddress.describe(Array("/tmp/x.sock".utf8) + [0]), "/tmp/x.sock")
        XCTAssertEqual(SocketAddress.describe([0] + Array("name".utf8)), "@name")
        XCTAssertEqual(SocketAddress.describe([2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), "127.0.0.1:8080")
        var v6 = [UInt8](repeating: 0, count: 28)
        v6[0] = 10; v6[2] = 0; v6[3] = 80; v6[23] = 1
        XCTAssertEqual(SocketAddress.describe(v6), "[0:0:0:0:0:0:0:1]:80")
    }
}
