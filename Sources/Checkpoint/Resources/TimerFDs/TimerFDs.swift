import CheckpointImage
import Glibc
import LinuxKit

/// timerfd: clock, time left, interval and unread expirations, from fdinfo
/// (fs/timerfd.c); re-armed relative to the restart.
enum TimerFDs: FDInfoKind {
    static let imageKind = FileDescriptorState.Kind.timerfd
    static func payload(_ r: TimerFDRecord) -> DescriptorPayload { .timerfd(r) }

    static func parse(_ d: OpenDescriptor) -> TimerFDRecord? {
        guard d.link == "anon_inode:[timerfd]" else { return nil }
        let f = ProcStatus(parsing: d.fdinfo).fields
        guard let clock = f["clockid"].flatMap({ UInt64($0) }), let ticks = f["ticks"].flatMap({ UInt64($0) }),
              let value = pair(f["it_value"]), let interval = pair(f["it_interval"]) else { return nil }
        return TimerFDRecord(clock: clock, remaining: value, interval: interval, ticks: ticks)
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
        if r.armed || periodic {
            // struct itimerspec { it_interval, it_value }: the remaining time, re-armed relative to now.
            // A periodic timer that fired and was not read shows no time left (the kernel
            // moves it on at the read): it next fires an interval from now.
            let value = r.armed ? (r.remainingSeconds, r.remainingNanoseconds) : (r.intervalSeconds, r.intervalNanoseconds)
            let spec: [UInt64] = [r.intervalSeconds, r.intervalNanoseconds, value.0, value.1]
            try session.call("timerfd_settime", NR.timerfd_settime, fd, 0, try session.put(spec.flatMap { x in withUnsafeBytes(of: x) { Array($0) } }), 0)
        }
        if r.ticks > 0 {
            // TFD_IOC_SET_TICKS: expirations not yet read (CONFIG_CHECKPOINT_RESTORE); best effort.
            _ = try session.raw(NR.ioctl, fd, TimerFDIoctl.setTicks, try session.put(value: r.ticks))
        }
        return .remote(fd)
    }
}
