import CheckpointImage
import Glibc
import LinuxKit

/// Recreates eventfd, signalfd and timerfd descriptors inside the stub from
/// the values the dump read in fdinfo; returns the new descriptor.
enum AnonInodeRestorer {
    static func create(_ f: FileDescriptorState, in session: RemoteSession) throws -> UInt64 {
        let nonblock = UInt64(f.flags) & UInt64(O_NONBLOCK)
        let v = f.values
        switch f.kind {
        case .eventfd:
            let fd = try session.call("eventfd2", NR.eventfd2, 0, nonblock | (v[1] != 0 ? 1 : 0))  // EFD_SEMAPHORE
            if v[0] > 0 {
                try session.call("write(eventfd)", NR.write, fd, try session.put(value: v[0]), 8)
            }
            return fd
        case .signalfd:
            return try session.call("signalfd4", NR.signalfd4, UInt64.max, try session.put(value: v[0]), 8, nonblock)
        case .timerfd:
            let fd = try session.call("timerfd_create", NR.timerfd_create, v[0], nonblock)
            if v[1] != 0 || v[2] != 0 {
                // struct itimerspec { it_interval, it_value }: the remaining time, re-armed relative to now.
                let spec: [UInt64] = [v[3], v[4], v[1], v[2]]
                try session.call("timerfd_settime", NR.timerfd_settime, fd, 0, try session.put(spec.flatMap { x in withUnsafeBytes(of: x) { Array($0) } }), 0)
            }
            if v[5] > 0 {
                // TFD_IOC_SET_TICKS: expirations not yet read (CONFIG_CHECKPOINT_RESTORE); best effort.
                _ = try session.raw(NR.ioctl, fd, 0x4008_5400, try session.put(value: v[5]))
            }
            return fd
        default:
            throw CheckpointError(EINVAL, "fd \(f.fd) is not an eventfd, signalfd or timerfd")
        }
    }
}
