import Foundation
import XCTest

/// Removes the test environment's directory (gigabytes of images) when the
/// run ends with no failure, and says where it is kept when one failed, so
/// repeated local runs do not fill /tmp and a failure can still be looked at.
final class CleanupObserver: NSObject, XCTestObservation, @unchecked Sendable {
    private let dir: String
    private var failures = 0

    init(dir: String) { self.dir = dir }

    func testCase(_ testCase: XCTestCase, didFailWithDescription description: String, inFile filePath: String?, atLine lineNumber: Int) {
        failures += 1
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        if failures > 0 || ProcessInfo.processInfo.environment["SWIFTCR_KEEP_TESTDIR"] != nil {
            print("test files kept in \(dir)")
            return
        }
        // Fixtures may have left files immutable or append-only; rm alone would stop there.
        _ = runTool(["/usr/bin/chattr", "-R", "-i", "-a", dir], timeout: 60)
        _ = runTool(["/bin/rm", "-rf", dir], timeout: 300)
    }
}
