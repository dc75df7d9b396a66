import CheckpointImage
import LinuxKit

/// eventfd, signalfd and timerfd state as the kernel prints it in
/// /proc/PID/fdinfo (fs/eventfd.c, fs/signalfd.c, fs/timerfd.c).
enum AnonInodeState {
    static func parse(link: String, fdinfo: String) -> (kind: FileDescriptorState.Kind, values: [UInt64])? {
        let f = ProcStatus(parsing: fdinfo).fields
        switch link {
        case "anon_inode:[eventfd]":
            guard let count = f["eventfd-count"].flatMap({ UInt64($0, radix: 16) }) else { return nil }
            return (.eventfd, [count, f["eventfd-semaphore"] == "1" ? 1 : 0])
        case "anon_inode:[signalfd]":
            guard let mask = f["sigmask"].flatMap({ UInt64($0, radix: 16) }) else { return nil }
            return (.signalfd, [mask])
        case "anon_inode:[eventpoll]":
            // "tfd: 4 events: 19 data: 4 pos:0 ino:... sdev:..." per watched descriptor (events, data in hex).
            var triples: [UInt64] = []
            for line in fdinfo.split(separator: "\n") where line.hasPrefix("tfd:") {
                let w = line.split(separator: " ", omittingEmptySubsequences: true)
                guard w.count >= 6, let tfd = UInt64(w[1]), let ev = UInt64(w[3], radix: 16), let data = UInt64(w[5], radix: 16) else { return nil }
                triples += [tfd, ev, data]
            }
            return (.epoll, triples)
        case "anon_inode:[timerfd]":
            guard let clock = f["clockid"].flatMap({ UInt64($0) }), let ticks = f["ticks"].flatMap({ UInt64($0) }),
                  let value = pair(f["it_value"]), let interval = pair(f["it_interval"]) else { return nil }
            return (.timerfd, [clock, value.0, value.1, interval.0, interval.1, ticks])
        default:
            return nil
        }
    }

    /// "(12, 345)" -> (12, 345)
    static func pair(_ s: String?) -> (UInt64, UInt64)? {
        guard let s else { return nil }
        let parts = s.filter { $0 != "(" && $0 != ")" && $0 != " " }.split(separator: ",")
        guard parts.count == 2, let a = UInt64(parts[0]), let b = UInt64(parts[1]) else { return nil }
        return (a, b)
    }
}
