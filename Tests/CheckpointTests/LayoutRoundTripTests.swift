import Glibc
import XCTest

/// Seeded random memory layouts (Fixtures/layout.c): each is checkpointed,
/// verified, restarted and checked page by page by the process itself.
/// SWIFTCR_LAYOUT_SEED fixes the first seed and SWIFTCR_LAYOUTS the count,
/// so a failure printed here reruns exactly.
final class LayoutRoundTripTests: XCTestCase {
    static var count: Int { Int(getenv("SWIFTCR_LAYOUTS").map { String(cString: $0) } ?? "") ?? 50 }
    static var firstSeed: UInt64 {
        if let s = getenv("SWIFTCR_LAYOUT_SEED"), let v = UInt64(String(cString: s)) { return v }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1000 &+ UInt64(ts.tv_nsec / 1_000_000)
    }

    func testRandomLayoutsRoundTrip() throws {
        let env = try TestEnvironment.get()
        let first = Self.firstSeed
        print("layout seeds \(first)...\(first + UInt64(Self.count) - 1)")
        let verify: @Sendable (String) -> Void = { work in
            let images = ((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []).filter { $0.hasPrefix("context.") }
            for image in images {
                let r = runTool(["\(env.bin)/swiftcr", "verify", "\(work)/\(image)"])
                XCTAssertEqual(r.code, 0, "swiftcr verify \(image): \(r.output)")
            }
        }
        for i in 0..<Self.count {
            let seed = first &+ UInt64(i)
            // Alternate root (original PIDs) and the unprivileged user (new PIDs).
            let mode: Scenario.Mode = i % 2 == 0 || env.user == nil ? .rootOriginalPID : .unprivilegedNewPID
            let before = testRun?.failureCount ?? 0
            var scenario = Scenario(fixture: "layout", arguments: ["\(seed)", "@"], betweenRuns: verify)
            scenario.settle = 50_000
            try scenario.run(mode)
            if (testRun?.failureCount ?? 0) > before {
                XCTFail("layout seed \(seed) failed (\(mode)); rerun: SWIFTCR_LAYOUT_SEED=\(seed) SWIFTCR_LAYOUTS=1 swift test --filter LayoutRoundTripTests")
            }
            // Each layout gets a fresh work directory's worth of files; drop the images as we go.
            let work = env.workDir("layout", user: mode == .rootOriginalPID ? nil : env.user)
            for f in (try? FileManager.default.contentsOfDirectory(atPath: work)) ?? [] where f.hasPrefix("context.") || f.hasPrefix("layout-file") {
                unlink("\(work)/\(f)")
            }
        }
    }
}
