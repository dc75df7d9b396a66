/// One open file descriptor.
public struct FileDescriptorState: Equatable, Sendable {
    public enum Kind: UInt64, Sendable {
        /// A regular file or directory, reopened by path at its offset.
        case regular = 1
        /// A character device reopened by path (/dev/null, zero, full, random, urandom, tty).
        case device = 2
        /// A terminal, pipe or socket shared with the outside world (stdio):
        /// after restart it becomes the same descriptor of cr_restart.
        case inherited = 3
        /// Something this version cannot restore (sockets, eventfd...):
        /// closed after restart, with a warning.
        case unsupported = 4
        /// One end of an anonymous pipe inside the checkpoint; `inode` names
        /// the pipe, and the first descriptor of a pipe carries its buffered
        /// bytes and capacity.
        case pipe = 5
        /// A regular file unlinked while open: its contents are in the image
        /// (`fileContents`) and it comes back open and still unlinked.
        case unlinked = 6
        /// eventfd: `values` = [count, semaphore (0/1)].
        case eventfd = 7
        /// signalfd: `values` = [signal mask].
        case signalfd = 8
        /// timerfd: `values` = [clockid, value s, value ns, interval s, interval ns, ticks].
        case timerfd = 9
        /// epoll: `values` = (watched fd, events, data) triples.
        case epoll = 10
        /// A UNIX socket: `values` = [type, state, peer inode, shutdown, sndbuf, rcvbuf, backlog],
        /// `address` its bound name, `queued` the messages waiting in its receive queue.
        case unixSocket = 11
        /// A listening or bound TCP/UDP socket: `values` = [family, type, protocol, listening, backlog],
        /// `address` its sockaddr, `peerAddress` the peer of a connected UDP socket.
        case inetSocket = 12
        /// A named FIFO, reopened by path; like a pipe, the first descriptor
        /// of it in the image carries its bytes and capacity; `values` = [mode].
        case fifo = 13
        /// A memfd: `values` = [seals, size]; contents in `fileContents` on the
        /// first descriptor of it (and in the pages of any mapping of it).
        case memfd = 14
        /// An inotify instance: `values` = (wd, mask) pairs, `watchPaths` the watched paths in the same order.
        case inotify = 15
        /// An established TCP connection saved with TCP_REPAIR: `values` = family,
        /// send seq, receive seq, mss, send/receive window scale, negotiated
        /// options, timestamp, window (5 values), unsent bytes, TCP_NODELAY;
        /// `queued` = [receive queue, send queue], or empty when the state could
        /// not be saved (no CAP_NET_ADMIN); `address`, `peerAddress` its ends.
        case tcpConnection = 16
        case unknown = 0
    }

    public var fd: Int32
    public var kind: Kind
    /// Path, or for inherited ones a description (`pipe:[1234]`, `/dev/pts/3`).
    public var path: String
    /// Open flags as in fdinfo (O_ACCMODE, O_APPEND, O_NONBLOCK...), without O_CLOEXEC.
    public var flags: UInt32
    public var closeOnExec: Bool
    public var offset: Int64
    /// For inherited descriptors: which of cr_restart's 0/1/2 it becomes; for
    /// a pipe on fd 0-2 that leads outside the image, likewise.
    public var inheritFrom: Int32
    /// Identity, so dup'ed descriptors are restored as one open file.
    public var device: UInt64
    public var inode: UInt64
    /// Index of the first descriptor sharing this open file description (itself if none).
    public var sharesWith: Int32
    public var fileSize: UInt64
    /// For the first descriptor of a pipe: the bytes in it, unread, and its capacity (F_GETPIPE_SZ).
    public var pipeData: [UInt8]? = nil
    public var pipeCapacity: UInt64 = 0
    /// For the first descriptor of an unlinked file: its contents.
    public var fileContents: [UInt8]? = nil
    /// The state of eventfd, signalfd and timerfd descriptors (see their kinds).
    public var values: [UInt64] = []
    /// Sockets: bound address (sun_path bytes or a sockaddr), peer address, and queued messages.
    public var address: [UInt8] = []
    public var peerAddress: [UInt8] = []
    public var queued: [[UInt8]] = []
    /// The open file this descriptor shares with an earlier process of the
    /// image (inherited across fork): [pid, fd] of its first holder, or empty.
    public var sameAs: [UInt64] = []
    /// inotify: the path of each watch.
    public var watchPaths: [String] = []
    /// Locks held through this descriptor, restored once it is open again.
    public var locks: [Lock] = []

    public struct Lock: Equatable, Sendable {
        public enum Kind: UInt64, Sendable { case flock = 1, posix = 2, ofd = 3 }
        public var kind: Kind
        public var write: Bool
        public var start: UInt64
        /// Bytes locked; 0 = to the end of the file, whatever its size.
        public var length: UInt64
        public init(kind: Kind, write: Bool, start: UInt64, length: UInt64) {
            self.kind = kind; self.write = write; self.start = start; self.length = length
        }
    }

    public init(fd: Int32, kind: Kind, path: String, flags: UInt32, closeOnExec: Bool, offset: Int64,
                inheritFrom: Int32 = -1, device: UInt64 = 0, inode: UInt64 = 0, sharesWith: Int32 = -1, fileSize: UInt64 = 0) {
        self.fd = fd; self.kind = kind; self.path = path; self.flags = flags; self.closeOnExec = closeOnExec
        self.offset = offset; self.inheritFrom = inheritFrom; self.device = device; self.inode = inode
        self.sharesWith = sharesWith < 0 ? fd : sharesWith; self.fileSize = fileSize
    }

    public var typeName: String {
        switch kind {
        case .regular: return "file"
        case .device: return "device"
        case .inherited: return "inherited"
        case .unsupported: return "unsupported"
        case .pipe: return "pipe"
        case .unlinked: return "unlinked"
        case .eventfd: return "eventfd"
        case .signalfd: return "signalfd"
        case .timerfd: return "timerfd"
        case .epoll: return "epoll"
        case .unixSocket: return "unix socket"
        case .inetSocket: return "inet socket"
        case .fifo: return "fifo"
        case .memfd: return "memfd"
        case .inotify: return "inotify"
        case .tcpConnection: return "tcp"
        case .unknown: return "unknown"
        }
    }

    enum Tag: UInt16 { case fd = 1, kind, path, flags, cloexec, offset, inherit, device, inode, shares, fileSize, pipeData, pipeCapacity, fileContents, values, locks, address, queued, peerAddress, watchPath, sameAs }

    func encode(into e: inout RecordEncoder) {
        e.i64(Tag.fd.rawValue, Int64(fd))
        e.u64(Tag.kind.rawValue, kind.rawValue)
        e.string(Tag.path.rawValue, path)
        e.u64(Tag.flags.rawValue, UInt64(flags))
        e.u64(Tag.cloexec.rawValue, closeOnExec ? 1 : 0)
        e.i64(Tag.offset.rawValue, offset)
        e.i64(Tag.inherit.rawValue, Int64(inheritFrom))
        e.u64(Tag.device.rawValue, device)
        e.u64(Tag.inode.rawValue, inode)
        e.i64(Tag.shares.rawValue, Int64(sharesWith))
        e.u64(Tag.fileSize.rawValue, fileSize)
        if let data = pipeData {
            e.raw(Tag.pipeData.rawValue, data)
            e.u64(Tag.pipeCapacity.rawValue, pipeCapacity)
        }
        if let contents = fileContents { e.raw(Tag.fileContents.rawValue, contents) }
        if !values.isEmpty { e.u64s(Tag.values.rawValue, values) }
        if !address.isEmpty { e.raw(Tag.address.rawValue, address) }
        if !peerAddress.isEmpty { e.raw(Tag.peerAddress.rawValue, peerAddress) }
        for m in queued { e.raw(Tag.queued.rawValue, m) }
        for w in watchPaths { e.string(Tag.watchPath.rawValue, w) }
        if !sameAs.isEmpty { e.u64s(Tag.sameAs.rawValue, sameAs) }
        for l in locks { e.u64s(Tag.locks.rawValue, [l.kind.rawValue, l.write ? 1 : 0, l.start, l.length]) }
    }

    init(decoding d: RecordDecoder) throws {
        fd = try d.i32(Tag.fd.rawValue, "fd number")
        guard fd >= 0 else { throw ImageError.malformed(what: "negative fd \(fd)", offset: d.base) }
        kind = Kind(rawValue: try d.u64(Tag.kind.rawValue, "fd kind")) ?? .unknown
        path = d.string(Tag.path.rawValue) ?? ""
        flags = UInt32(truncatingIfNeeded: try d.u64(Tag.flags.rawValue, "fd flags"))
        closeOnExec = try d.u64(Tag.cloexec.rawValue, default: 0) != 0
        offset = Int64(bitPattern: try d.u64(Tag.offset.rawValue, default: 0))
        inheritFrom = Int32(truncatingIfNeeded: Int64(bitPattern: try d.u64(Tag.inherit.rawValue, default: UInt64.max)))
        device = try d.u64(Tag.device.rawValue, default: 0)
        inode = try d.u64(Tag.inode.rawValue, default: 0)
        sharesWith = Int32(truncatingIfNeeded: Int64(bitPattern: try d.u64(Tag.shares.rawValue, default: UInt64(fd))))
        fileSize = try d.u64(Tag.fileSize.rawValue, default: 0)
        pipeData = d.raw(Tag.pipeData.rawValue)
        pipeCapacity = try d.u64(Tag.pipeCapacity.rawValue, default: 0)
        fileContents = d.raw(Tag.fileContents.rawValue)
        values = try d.u64s(Tag.values.rawValue)
        for f in d.fields where f.tag == Tag.locks.rawValue {
            let v = try RecordDecoder.u64List(d, f.range, count: 4, what: "file lock")
            guard let kind = Lock.Kind(rawValue: v[0]), v[1] <= 1, v[2] <= UInt64(Int64.max), v[3] <= UInt64(Int64.max) else {
                throw ImageError.malformed(what: "fd \(fd): lock \(v)", offset: d.offset(of: f.range))
            }
            locks.append(Lock(kind: kind, write: v[1] == 1, start: v[2], length: v[3]))
        }
        address = d.raw(Tag.address.rawValue) ?? []
        peerAddress = d.raw(Tag.peerAddress.rawValue) ?? []
        queued = d.fields.filter { $0.tag == Tag.queued.rawValue }.map { Array(d.bytes[$0.range]) }
        sameAs = try d.u64s(Tag.sameAs.rawValue)
        guard sameAs.isEmpty || (sameAs.count == 2 && sameAs[0] > 0 && sameAs[0] <= UInt64(Int32.max) && sameAs[1] <= UInt64(Int32.max)) else {
            throw ImageError.malformed(what: "fd \(fd): shared open file reference \(sameAs)", offset: d.base)
        }
        watchPaths = d.fields.filter { $0.tag == Tag.watchPath.rawValue }.map { String(decoding: d.bytes[$0.range], as: UTF8.self) }
        if kind == .tcpConnection && ((queued.count != 2 && !queued.isEmpty) || address.isEmpty || peerAddress.isEmpty) {
            throw ImageError.malformed(what: "TCP connection fd \(fd): \(queued.count) queues, addresses \(address.count)/\(peerAddress.count) bytes", offset: d.base)
        }
        if kind == .inotify && values.count != 2 * watchPaths.count {
            throw ImageError.malformed(what: "inotify fd \(fd): \(values.count) values for \(watchPaths.count) watches", offset: d.base)
        }
        guard address.count <= 128, peerAddress.count <= 128 else {
            throw ImageError.malformed(what: "socket fd \(fd): address of \(max(address.count, peerAddress.count)) bytes", offset: d.base)
        }
        let needed: [Kind: Int] = [.eventfd: 2, .signalfd: 1, .timerfd: 6, .unixSocket: 7, .inetSocket: 5, .fifo: 1, .memfd: 2, .tcpConnection: 15]
        if kind == .epoll && values.count % 3 != 0 {
            throw ImageError.malformed(what: "epoll fd \(fd) has \(values.count) values, not triples", offset: d.base)
        }
        if let n = needed[kind], values.count < n {
            throw ImageError.malformed(what: "\(typeName) fd \(fd) has \(values.count) values, needs \(n)", offset: d.base)
        }
        guard pipeCapacity <= 1 << 30, (pipeData?.count ?? 0) <= Int(max(pipeCapacity, 65536)) else {
            throw ImageError.malformed(what: "pipe of fd \(fd): \(pipeData?.count ?? 0) bytes in a pipe of \(pipeCapacity)", offset: d.base)
        }
    }
}
