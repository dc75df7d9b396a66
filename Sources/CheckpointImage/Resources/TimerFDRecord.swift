/// timerfd: its clock, the time left and the interval (re-armed relative to
/// the restart), and expirations not yet read.
public struct TimerFDRecord: DescriptorPayloadRecord {
    public var clock: UInt64
    public var remainingSeconds: UInt64, remainingNanoseconds: UInt64
    public var intervalSeconds: UInt64, intervalNanoseconds: UInt64
    public var ticks: UInt64
    /// Since 2026-12-06: timerfd_settime's flags, from fdinfo: 1 TFD_TIMER_ABSTIME,
    /// 2 TFD_TIMER_CANCEL_ON_SET (a wall-clock timer that learns of clock changes).
    public var settimeFlags: UInt64 = 0

    public init(clock: UInt64, remaining: (UInt64, UInt64), interval: (UInt64, UInt64), ticks: UInt64) {
        self.clock = clock
        (remainingSeconds, remainingNanoseconds) = remaining
        (intervalSeconds, intervalNanoseconds) = interval
        self.ticks = ticks
    }

    public var armed: Bool { remainingSeconds != 0 || remainingNanoseconds != 0 }

    enum Tag: UInt16, CaseIterable {
        case clock = 1, remainingSeconds = 2, remainingNanoseconds = 3, intervalSeconds = 4, intervalNanoseconds = 5, ticks = 6, settimeFlags = 7
    }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.clock.rawValue, clock)
        e.u64(Tag.remainingSeconds.rawValue, remainingSeconds)
        e.u64(Tag.remainingNanoseconds.rawValue, remainingNanoseconds)
        e.u64(Tag.intervalSeconds.rawValue, intervalSeconds)
        e.u64(Tag.intervalNanoseconds.rawValue, intervalNanoseconds)
        e.u64(Tag.ticks.rawValue, ticks)
        if settimeFlags != 0 { e.u64(Tag.settimeFlags.rawValue, settimeFlags) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        self.init(clock: try d.u64(Tag.clock.rawValue, "timerfd clock"),
                  remaining: (try d.u64(Tag.remainingSeconds.rawValue, default: 0), try d.u64(Tag.remainingNanoseconds.rawValue, default: 0)),
                  interval: (try d.u64(Tag.intervalSeconds.rawValue, default: 0), try d.u64(Tag.intervalNanoseconds.rawValue, default: 0)),
                  ticks: try d.u64(Tag.ticks.rawValue, default: 0))
        settimeFlags = try d.u64(Tag.settimeFlags.rawValue, default: 0)
        guard settimeFlags <= 3 else { throw ImageError.malformed(what: "timerfd fd \(fd): settime flags \(settimeFlags)", offset: d.base) }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        let v = try legacy.values(6, "timerfd", fd: fd)
        self.init(clock: v[0], remaining: (v[1], v[2]), interval: (v[3], v[4]), ticks: v[5])
    }
}
