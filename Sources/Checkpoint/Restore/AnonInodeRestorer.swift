import CheckpointImage
import Glibc
import LinuxKit

/// Recreates eventfd, signalfd and timerfd descriptors inside the stub from
/// the values the dump read in fdinfo; returns the new descriptor.
enum AnonInodeRestorer {
    /// inotify_init1, then each watch by path with its old number: the kernel
    /// hands out watch numbers upwards, so removing and adding again steps
    /// the next one forward until it is the wanted one.
    static func inotify(_ f: FileDescriptorState, in session: RemoteSession) throws -> UInt64 {
        // Non-blocking while set up, so the IN_IGNORED events of the stepping can be drained.
        let fd = try session.call("inotify_init1", NR.inotify_init1, UInt64(O_NONBLOCK))
        for (k, path) in f.watchPaths.enumerated() {
            let (wd, mask) = (Int64(f.values[2 * k]), f.values[2 * k + 1])
            let p = try session.putString(path)
            var got = try session.raw(NR.inotify_add_watch, fd, p, mask)
            var steps = 0
            while got > 0 && got < wd && steps < 65536 {
                _ = try session.raw(NR.inotify_rm_watch, fd, UInt64(got))
                got = try session.raw(NR.inotify_add_watch, fd, p, mask)
                steps += 1
            }
            guard got == wd else {
                let why = got < 0 ? String(cString: strerror(Int32(-got))) : "it came back as watch \(got)"
                throw CheckpointError(got < 0 ? Int32(-got) : EEXIST, "fd \(f.fd): inotify watch \(wd) on \(path) cannot be made again: \(why)")
            }
        }
        let buffer = try session.put([UInt8](repeating: 0, count: 4096), at: 8192)
        var drained = 0
        while drained < 4096, try session.raw(NR.read, fd, buffer, 4096) > 0 { drained += 1 }
        try session.call("fcntl(F_SETFL)", NR.fcntl, fd, UInt64(F_SETFL), UInt64(f.flags) & UInt64(O_NONBLOCK))
        return fd
    }

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
        case .inotify:
            return try inotify(f, in: session)
        default:
            throw CheckpointError(EINVAL, "fd \(f.fd) is not an eventfd, signalfd, timerfd or inotify")
        }
    }
}
