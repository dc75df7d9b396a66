import CheckpointImage
import Glibc
import LinuxKit

/// timerfd: clock, time left, interval, unread expirations and settime
/// flags, from fdinfo (fs/timerfd.c); re-armed for the same time left from
/// the restart, an absolute one as an absolute time on its clock.
enum TimerFDs: FDInfoKind {
    static let imageKind = FileDescriptorState.Kind.timerfd
    static func payload(_ r: TimerFDRecord) -> DescriptorPayload { .timerfd(r) }

    static func parse(_ d: OpenDescriptor) -> TimerFDRecord? {
        guard d.link == "anon_inode:[timerfd]" else { return nil }
        let f = ProcStatus(parsing: d.fdinfo).fields
        guard let clock = f["clockid"].flatMap({ UInt64($0) }), let ticks = f["ticks"].flatMap({ UInt64($0) }),
              let value = pair(f["it_value"]), let interval = pair(f["it_interval"]) else { return nil }
        var r = TimerFDRecord(clock: clock, remaining: value, interval: interval, ticks: ticks)
        // "settime flags: 03" (octal).
        r.settimeFlags = f["settime flags"].flatMap { UInt64($0.filter(\.isNumber), radix: 8) } ?? 0
        return r
    }

    /// "(12, 345)" -> (12, 345)
    static func pair(_ s: String?) -> (UInt64, UInt64)? {
        guard let s else { return nil }
        let parts = s.filter { $0 != "(" && $0 != ")" && $0 != " " }.split(separator: ",")
        guard parts.count == 2, let a = UInt64(parts[0]), let b = UInt64(parts[1]) else { return nil }
        return (a, b)
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard let r = f.timerfd else { throw CheckpointError(EINVAL, "fd \(f.fd): timerfd record missing") }
        let session = c.session
        let fd = try session.call("timerfd_create", NR.timerfd_create, r.clock, UInt64(f.flags) & UInt64(O_NONBLOCK))
        let periodic = r.intervalSeconds != 0 || r.intervalNanoseconds != 0
        let cancelOnSet = r.settimeFlags & 2 != 0
        if r.armed || periodic || cancelOnSet {
            // struct itimerspec { it_interval, it_value }: the remaining time, re-armed relative to now.
            // A periodic timer that fired and was not read shows no time left (the kernel
            // moves it on at the read): it next fires an interval from now.
            var value = r.armed ? (r.remainingSeconds, r.remainingNanoseconds) : (r.intervalSeconds, r.intervalNanoseconds)
            if r.settimeFlags & 1 != 0 && (value.0 != 0 || value.1 != 0) {
                // Absolute: now on its clock, read in the process (its time namespace's view), plus the time left.
                try session.call("clock_gettime", NR.clock_gettime, r.clock, try session.put(value: timespec(), at: 64))
                let now = try session.get(timespec.self, at: 64)
                let ns = UInt64(now.tv_nsec) + value.1
                value = (UInt64(now.tv_sec) + value.0 + ns / 1_000_000_000, ns % 1_000_000_000)
            }
            let spec: [UInt64] = [r.intervalSeconds, r.intervalNanoseconds, value.0, value.1]
            try session.call("timerfd_settime", NR.timerfd_settime, fd, r.settimeFlags, try session.put(spec.flatMap { x in withUnsafeBytes(of: x) { Array($0) } }), 0)
        }
        if r.ticks > 0 {
            // TFD_IOC_SET_TICKS: expirations not yet read (CONFIG_CHECKPOINT_RESTORE); best effort.
            _ = try session.raw(NR.ioctl, fd, TimerFDIoctl.setTicks, try session.put(value: r.ticks))
        }
        return .remote(fd)
    }
}
