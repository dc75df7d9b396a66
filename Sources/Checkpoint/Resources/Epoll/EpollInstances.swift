import CheckpointImage
import Glibc
import LinuxKit

/// epoll: created empty at restart, its watches added once every other
/// descriptor of the process is back.
enum EpollInstances: FDInfoKind {
    static let imageKind = FileDescriptorState.Kind.epoll
    static func payload(_ r: EpollRecord) -> DescriptorPayload { .epoll(r) }

    /// "tfd: 4 events: 19 data: 4 pos:0 ino:... sdev:..." per watched descriptor (events, data in hex).
    static func parse(_ d: OpenDescriptor) -> EpollRecord? {
        guard d.link == "anon_inode:[eventpoll]" else { return nil }
        var watches: [EpollRecord.Watch] = []
        for line in d.fdinfo.split(separator: "\n") where line.hasPrefix("tfd:") {
            let w = line.split(separator: " ", omittingEmptySubsequences: true)
            guard w.count >= 6, let tfd = UInt64(w[1]), let ev = UInt64(w[3], radix: 16), let data = UInt64(w[5], radix: 16) else { return nil }
            watches.append(.init(fd: tfd, events: ev, data: data))
        }
        return EpollRecord(watches: watches)
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        .remote(try c.session.call("epoll_create1", NR.epoll_create1, 0))
    }

    static func finish(_ f: FileDescriptorState, in c: FileRestoreContext) throws {
        guard f.sameAs.isEmpty, let r = f.epoll else { return }
        for w in r.watches {
            // struct epoll_event is packed on x86_64: u32 events, u64 data.
            let event = withUnsafeBytes(of: UInt32(truncatingIfNeeded: w.events)) { Array($0) } + withUnsafeBytes(of: w.data) { Array($0) }
            let r = try c.session.raw(NR.epoll_ctl, UInt64(f.fd), 1, w.fd, try c.session.put(event))  // EPOLL_CTL_ADD
            if r < 0 { c.warn("epoll fd \(f.fd): fd \(w.fd) could not be watched again (\(errorText(Int32(-r))))") }
        }
    }
}
