import CheckpointImage
import Glibc
import LinuxKit

/// epoll: created empty at restart, its watches added once every other
/// descriptor of the process is back.
enum EpollInstances: FDInfoKind {
    static let imageKind = FileDescriptorState.Kind.epoll
    static func payload(_ r: EpollRecord) -> DescriptorPayload { .epoll(r) }

    static func parse(_ d: OpenDescriptor) -> EpollRecord? { watches(d).map { EpollRecord(watches: $0.watches) } }

    /// "tfd: 4 events: 19 data: 4 pos:0 ino:... sdev:..." per watched descriptor (events, data, inode in hex).
    static func watches(_ d: OpenDescriptor) -> (watches: [EpollRecord.Watch], inodes: [UInt64])? {
        guard d.link == "anon_inode:[eventpoll]" else { return nil }
        var watches: [EpollRecord.Watch] = [], inodes: [UInt64] = []
        for line in d.fdinfo.split(separator: "\n") where line.hasPrefix("tfd:") {
            let w = line.split(separator: " ", omittingEmptySubsequences: true)
            guard w.count >= 6, let tfd = UInt64(w[1]), let ev = UInt64(w[3], radix: 16), let data = UInt64(w[5], radix: 16) else { return nil }
            watches.append(.init(fd: tfd, events: ev, data: data))
            inodes.append(w.first { $0.hasPrefix("ino:") }.flatMap { UInt64($0.dropFirst(4), radix: 16) } ?? 0)
        }
        return (watches, inodes)
    }

    /// Each watch with the descriptor that holds its file, where that is not its own number.
    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = imageKind
        guard let (watches, inodes) = watches(d) else { state.payload = .none; return }
        // An epoll in flight in a socket queue is read through our own copy:
        // its watch numbers are not ours to look up, so they stay as they are.
        guard d.pid != getpid() else { state.payload = .epoll(EpollRecord(watches: watches)); return }
        let found = EpollTargets.find(pid: d.pid, epoll: d.fd, watches: watches, inodes: inodes)
        for fd in found.unheld {
            context.warn("epoll fd \(d.fd): the file watched as fd \(fd) is held by no descriptor of this process; that watch is not saved")
        }
        state.payload = .epoll(EpollRecord(watches: found.watches))
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        .remote(try c.session.call("epoll_create1", NR.epoll_create1, 0))
    }

    static func finish(_ f: FileDescriptorState, in c: FileRestoreContext) throws {
        guard f.sameAs.isEmpty, let r = f.epoll else { return }
        for w in r.watches {
            // Its file was not made again (said already): the number holds a stand-in epoll refuses.
            if c.objects.isClosed(pid: c.process.pid, fd: Int32(truncatingIfNeeded: w.fd)) {
                c.warn("epoll fd \(f.fd): its watch of fd \(w.fd) is not made again, as that descriptor was not")
                continue
            }
            // struct epoll_event is packed on x86_64: u32 events, u64 data.
            let event = withUnsafeBytes(of: UInt32(truncatingIfNeeded: w.events)) { Array($0) } + withUnsafeBytes(of: w.data) { Array($0) }
            let number = try borrowNumber(w, in: c)
            let r = try c.session.raw(NR.epoll_ctl, UInt64(f.fd), 1, number.fd, try c.session.put(event))  // EPOLL_CTL_ADD
            if number.borrowed { _ = try c.session.raw(NR.close, number.fd) }
            if r < 0 { c.warn("epoll fd \(f.fd): fd \(w.fd) could not be watched again (\(errorText(Int32(-r))))") }
        }
    }

    /// The number to add a watch under: its own, where the file is now
    /// under another number only for the call (the source duplicated to it,
    /// closed again after) when that number is free; else the source's.
    private static func borrowNumber(_ w: EpollRecord.Watch, in c: FileRestoreContext) throws -> (fd: UInt64, borrowed: Bool) {
        guard let source = w.source, source != w.fd else { return (w.fd, false) }
        guard try c.session.raw(NR.fcntl, w.fd, UInt64(F_GETFD)) == -Int(EBADF),
              try c.session.raw(NR.dup2, source, w.fd) >= 0 else { return (source, false) }
        return (w.fd, true)
    }
}
