import Glibc

/// A one-line progress bar on stderr, shown only on a terminal and only for
/// dumps that take more than a moment.
final class ProgressBar: @unchecked Sendable {  // used from one thread at a time
    let label: String
    let enabled: Bool
    let started: Double
    var drawn = false
    var lastDraw = 0.0

    /// Seconds before the bar shows (a test hook sets it to 0: SWIFTCR_TEST_PROGRESS_AFTER).
    let delay: Double

    init(label: String, enabled: Bool) {
        self.label = label
        self.enabled = enabled && isatty(2) != 0
        started = ProgressBar.now
        delay = getenv("SWIFTCR_TEST_PROGRESS_AFTER").flatMap { Double(String(cString: $0)) } ?? 0.3
    }

    static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func update(_ done: UInt64, _ total: UInt64) {
        guard enabled, total > 0 else { return }
        let t = Self.now
        guard t - started >= delay, t - lastDraw > 0.1 || done == total else { return }
        lastDraw = t
        let width = 30
        let filled = Int(Double(width) * Double(done) / Double(total))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let mb = Double(done) / 1_048_576
        let rate = mb / max(t - started, 0.001)
        let line = "\r\(label) [\(bar)] \(Int(mb)) MiB, \(Int(rate)) MiB/s"
        _ = line.withCString { write(2, $0, strlen($0)) }
        drawn = true
    }

    func finish() {
        if drawn { _ = "\n".withCString { write(2, $0, 1) } }
    }
}
