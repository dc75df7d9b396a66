/// The three interval timers (setitimer): real (also `alarm`), virtual, profiling.
/// Each is (interval s, interval µs, remaining s, remaining µs); all zero = disarmed.
public struct IntervalTimers: Equatable, Sendable {
    public var values: [UInt64]
    public init(values: [UInt64] = Array(repeating: 0, count: 12)) { self.values = values }
    public var isArmed: Bool { values.contains { $0 != 0 } }
    public func timer(_ which: Int) -> ArraySlice<UInt64> { values[(which * 4)..<(which * 4 + 4)] }
}

/// One POSIX timer (timer_create) with its ID, notification and setting.
public struct PosixTimer: Equatable, Sendable {
    public var id: Int32
    public var clock: Int32
    /// sigev_notify: SIGEV_SIGNAL 0, SIGEV_NONE 1, SIGEV_THREAD_ID 4 (glibc's SIGEV_THREAD is built on it).
    public var notify: Int32
    public var signal: Int32
    public var value: UInt64
    /// For SIGEV_THREAD_ID: the thread (as checkpointed) that gets the signal.
    public var thread: Int32
    public var intervalSeconds: UInt64, intervalNanoseconds: UInt64
    public var remainingSeconds: UInt64, remainingNanoseconds: UInt64

    public init(id: Int32, clock: Int32, notify: Int32, signal: Int32, value: UInt64, thread: Int32,
                interval: (UInt64, UInt64), remaining: (UInt64, UInt64)) {
        self.id = id; self.clock = clock; self.notify = notify; self.signal = signal; self.value = value
        self.thread = thread
        (intervalSeconds, intervalNanoseconds) = interval
        (remainingSeconds, remainingNanoseconds) = remaining
    }

    var fields: [UInt64] {
        [UInt64(bitPattern: Int64(id)), UInt64(bitPattern: Int64(clock)), UInt64(bitPattern: Int64(notify)),
         UInt64(bitPattern: Int64(signal)), value, UInt64(bitPattern: Int64(thread)),
         intervalSeconds, intervalNanoseconds, remainingSeconds, remainingNanoseconds]
    }

    init(fields v: [UInt64]) {
        func i32(_ x: UInt64) -> Int32 { Int32(truncatingIfNeeded: Int64(bitPattern: x)) }
        self.init(id: i32(v[0]), clock: i32(v[1]), notify: i32(v[2]), signal: i32(v[3]), value: v[4], thread: i32(v[5]),
                  interval: (v[6], v[7]), remaining: (v[8], v[9]))
    }

    /// Checks what the restorer hands to the kernel: timer IDs are non-negative, signals 1...64, nanoseconds below 1e9.
    func validate(at offset: UInt64) throws {
        guard id >= 0, notify == 1 || (1...64).contains(signal),
              intervalNanoseconds < 1_000_000_000, remainingNanoseconds < 1_000_000_000 else {
            throw ImageError.malformed(what: "POSIX timer \(id): signal \(signal), nanoseconds \(intervalNanoseconds)/\(remainingNanoseconds)", offset: offset)
        }
    }
}
