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
        /// The kinds below keep their own state in `payload` (Resources/*Record.swift).
        case eventfd = 7
        case signalfd = 8
        case timerfd = 9
        case epoll = 10
        case unixSocket = 11
        /// A listening or bound TCP/UDP socket.
        case inetSocket = 12
        /// A named FIFO, reopened by path; like a pipe, the first descriptor
        /// of it in the image carries its bytes and capacity.
        case fifo = 13
        /// A memfd: contents in `fileContents` on the first descriptor of it
        /// (and in the pages of any mapping of it).
        case memfd = 14
        case inotify = 15
        /// An established TCP connection saved with TCP_REPAIR.
        case tcpConnection = 16
        /// A directory removed while open: made again, opened, and removed.
        case deletedDirectory = 17
        /// A device node or symlink (O_PATH) held open, perhaps removed: made again, opened, removed again if it was.
        case node = 18
        /// A pidfd of a process of the image, outside it, or gone.
        case pidfd = 19
        /// A namespace (/proc/PID/ns/TYPE) one of the image's processes was in.
        case namespace = 20
        /// The master of a pseudo-terminal (/dev/ptmx), made again with its index.
        case ptyMaster = 21
        /// Since 1.3: an AF_PACKET socket (payload: PacketSocketRecord).
        case packetSocket = 22
        /// Written since 2026-12-03: an AF_NETLINK socket (payload: NetlinkSocketRecord).
        case netlinkSocket = 23
        /// Written since 2026-12-03: a fanotify group (payload: FanotifyRecord).
        case fanotify = 24
        /// Written since 2026-12-05: an open /dev/net/tun (payload: TunFileRecord).
        case tun = 25
        /// Written since 2026-12-06: a POSIX message queue (payload: MessageQueueRecord).
        case messageQueue = 26
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
    /// The kind's own state (a socket's addresses and queue, a timer's time...).
    public var payload: DescriptorPayload = .none
    /// The open file this descriptor shares with an earlier process of the
    /// image (inherited across fork): [pid, fd] of its first holder, or empty.
    public var sameAs: [UInt64] = []
    /// Locks held through this descriptor, restored once it is open again.
    public var locks: [Lock] = []
    /// Since 1.3: a socket's options that differ from a new socket's of its
    /// type, set again on the restored socket.
    public var socketOptions: [SocketOption] = []
    /// Since 1.3: who gets SIGIO/SIGURG for this open file (F_SETOWN_EX) and with which signal (F_SETSIG).
    public var owner: Owner? = nil
    /// Since 1.3: the lease held through this open file: 0 read, 1 write,
    /// 2 being broken (to be given up), 3 a write lease being cut to read.
    public var lease: UInt64? = nil
    /// Since 1.3, with `pipeData`: no process had the pipe open for writing
    /// any more (its readers get the bytes, then end of file).
    public var pipeNoWriters: Bool = false
    /// Since 1.3: not a descriptor of the process but a file in flight in one
    /// of its UNIX sockets' queues (SCM_RIGHTS), under a number above its
    /// own: made like the others, then sent with its message and closed.
    public var inFlight: Bool = false
    /// Since 2026-12-04: the file is on a mount of another mount namespace
    /// than its process's (opened there, then passed or inherited across
    /// unshare): that namespace, numbered as ProcessState.mountNamespace.
    public var mountNamespace: Int? = nil
    /// Since 2026-12-06: a socket made in a network namespace other than
    /// its process's (before a setns): that namespace, numbered as
    /// ProcessState.netNamespace (0: the checkpointer's).
    public var netNamespace: Int? = nil

    /// One socket option as the kernel gives it (getsockopt's bytes).
    public struct SocketOption: Equatable, Sendable {
        public var level: Int32
        public var name: Int32
        public var value: [UInt8]
        public init(level: Int32, name: Int32, value: [UInt8]) { self.level = level; self.name = name; self.value = value }

        enum Tag: UInt16, CaseIterable { case level = 1, name = 2, value = 3 }
    }

    /// F_GETOWN_EX and F_GETSIG.
    public struct Owner: Equatable, Sendable {
        /// f_owner_ex.type: 0 thread (F_OWNER_TID), 1 process, 2 process group.
        public var type: UInt64
        public var pid: Int32
        public var signal: Int32
        public init(type: UInt64, pid: Int32, signal: Int32) { self.type = type; self.pid = pid; self.signal = signal }
    }

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
        case .deletedDirectory: return "deleted directory"
        case .node: return "node"
        case .pidfd: return "pidfd"
        case .namespace: return "namespace"
        case .ptyMaster: return "pty master"
        case .packetSocket: return "packet socket"
        case .netlinkSocket: return "netlink socket"
        case .fanotify: return "fanotify"
        case .tun: return "tun"
        case .messageQueue: return "message queue"
        case .unknown: return "unknown"
        }
    }

    /// Numbered by hand: a tag's number is the format, never its position here.
    enum Tag: UInt16, CaseIterable {
        case fd = 1, kind = 2, path = 3, flags = 4, cloexec = 5, offset = 6, inherit = 7, device = 8, inode = 9, shares = 10
        case fileSize = 11, pipeData = 12, pipeCapacity = 13, fileContents = 14, legacyValues = 15, locks = 16
        case legacyAddress = 17, legacyQueued = 18, legacyPeerAddress = 19, legacyWatchPath = 20, sameAs = 21, payload = 22
        case socketOption = 23, owner = 24, lease = 25, pipeNoWriters = 26, inFlight = 27, mountNamespace = 28, netNamespace = 29
    }

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
        if payload != .none { e.record(Tag.payload.rawValue) { payload.encode(into: &$0) } }
        if !sameAs.isEmpty { e.u64s(Tag.sameAs.rawValue, sameAs) }
        for l in locks { e.u64s(Tag.locks.rawValue, [l.kind.rawValue, l.write ? 1 : 0, l.start, l.length]) }
        for o in socketOptions {
            e.record(Tag.socketOption.rawValue) {
                $0.i64(SocketOption.Tag.level.rawValue, Int64(o.level))
                $0.i64(SocketOption.Tag.name.rawValue, Int64(o.name))
                $0.raw(SocketOption.Tag.value.rawValue, o.value)
            }
        }
        if let owner { e.u64s(Tag.owner.rawValue, [owner.type, UInt64(bitPattern: Int64(owner.pid)), UInt64(bitPattern: Int64(owner.signal))]) }
        if let lease { e.u64(Tag.lease.rawValue, lease) }
        if pipeNoWriters { e.u64(Tag.pipeNoWriters.rawValue, 1) }
        if inFlight { e.u64(Tag.inFlight.rawValue, 1) }
        if let mountNamespace { e.u64(Tag.mountNamespace.rawValue, UInt64(mountNamespace)) }
        if let netNamespace { e.u64(Tag.netNamespace.rawValue, UInt64(netNamespace)) }
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
        for f in d.fields where f.tag == Tag.locks.rawValue {
            let v = try RecordDecoder.u64List(d, f.range, count: 4, what: "file lock")
            guard let kind = Lock.Kind(rawValue: v[0]), v[1] <= 1, v[2] <= UInt64(Int64.max), v[3] <= UInt64(Int64.max) else {
                throw ImageError.malformed(what: "fd \(fd): lock \(v)", offset: d.offset(of: f.range))
            }
            locks.append(Lock(kind: kind, write: v[1] == 1, start: v[2], length: v[3]))
        }
        for o in try d.records(Tag.socketOption.rawValue, name: "fd \(fd) socket option") {
            let value = o.raw(SocketOption.Tag.value.rawValue) ?? []
            guard value.count <= 4096 else { throw ImageError.malformed(what: "fd \(fd): socket option of \(value.count) bytes", offset: o.base) }
            socketOptions.append(SocketOption(level: try o.i32(SocketOption.Tag.level.rawValue, "option level"),
                                              name: try o.i32(SocketOption.Tag.name.rawValue, "option name"), value: value))
        }
        let owned = try d.u64s(Tag.owner.rawValue)
        if !owned.isEmpty {
            guard owned.count == 3, owned[0] <= 2, let pid = Int32(exactly: Int64(bitPattern: owned[1])),
                  let signal = Int32(exactly: Int64(bitPattern: owned[2])), (0...64).contains(signal) else {
                throw ImageError.malformed(what: "fd \(fd): file owner \(owned)", offset: d.base)
            }
            owner = Owner(type: owned[0], pid: pid, signal: signal)
        }
        if d.first(Tag.lease.rawValue) != nil {
            let l = try d.u64(Tag.lease.rawValue, "lease")
            guard l <= 3 else { throw ImageError.malformed(what: "fd \(fd): lease type \(l)", offset: d.base) }
            lease = l
        }
        pipeNoWriters = try d.u64(Tag.pipeNoWriters.rawValue, default: 0) != 0
        inFlight = try d.u64(Tag.inFlight.rawValue, default: 0) != 0
        if let ns = try d.optionalU64(Tag.mountNamespace.rawValue) {
            guard ns < 1 << 20 else { throw ImageError.malformed(what: "fd \(fd): mount namespace \(ns)", offset: d.base) }
            mountNamespace = Int(ns)
        }
        if let ns = try d.optionalU64(Tag.netNamespace.rawValue) {
            guard ns < 1 << 20 else { throw ImageError.malformed(what: "fd \(fd): network namespace \(ns)", offset: d.base) }
            netNamespace = Int(ns)
        }
        sameAs = try d.u64s(Tag.sameAs.rawValue)
        guard sameAs.isEmpty || (sameAs.count == 2 && sameAs[0] > 0 && sameAs[0] <= UInt64(Int32.max) && sameAs[1] <= UInt64(Int32.max)) else {
            throw ImageError.malformed(what: "fd \(fd): shared open file reference \(sameAs)", offset: d.base)
        }
        payload = try DescriptorPayload.decode(kind: kind, fd: fd, record: try d.record(Tag.payload.rawValue, name: "fd \(fd) payload"),
                                               legacy: try LegacyDescriptorFields(d, tags: Tag.self))
        if let u = unlinked, u.size != 0 || !u.extents.isEmpty, let c = fileContents, UInt64(c.count) != u.extentBytes {
            throw ImageError.malformed(what: "unlinked file fd \(fd): \(c.count) bytes saved for extents of \(u.extentBytes)", offset: d.base)
        }
        guard pipeCapacity <= 1 << 30, (pipeData?.count ?? 0) <= Int(max(pipeCapacity, 65536)) else {
            throw ImageError.malformed(what: "pipe of fd \(fd): \(pipeData?.count ?? 0) bytes in a pipe of \(pipeCapacity)", offset: d.base)
        }
    }
}
