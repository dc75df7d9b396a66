/// What one kind of descriptor keeps beyond the fields every descriptor has
/// (docs/IMAGE-FORMAT.md §4, "Descriptor payloads"). Each kind's record has
/// its own explicitly numbered tags and lives in a file of its own; this
/// enum is where a kind registers its record with the format.
public enum DescriptorPayload: Equatable, Sendable {
    case none
    case eventfd(EventFDRecord)
    case signalfd(SignalFDRecord)
    case timerfd(TimerFDRecord)
    case epoll(EpollRecord)
    case unixSocket(UnixSocketRecord)
    case inetSocket(InetSocketRecord)
    case fifo(FIFORecord)
    case memfd(MemFDRecord)
    case inotify(InotifyRecord)
    case tcpConnection(TCPConnectionRecord)
    case unlinked(UnlinkedFileRecord)
    case node(NodeRecord)
    case pidfd(PidFDRecord)
    case namespace(NamespaceRecord)
    case pty(PtyRecord)
    case packetSocket(PacketSocketRecord)
    case netlinkSocket(NetlinkSocketRecord)
    case fanotify(FanotifyRecord)
    case tun(TunFileRecord)
    case messageQueue(MessageQueueRecord)

    /// The record's own encoding, or nil for kinds without one.
    func encode(into e: inout RecordEncoder) {
        switch self {
        case .none: break
        case .eventfd(let r): r.encode(into: &e)
        case .signalfd(let r): r.encode(into: &e)
        case .timerfd(let r): r.encode(into: &e)
        case .epoll(let r): r.encode(into: &e)
        case .unixSocket(let r): r.encode(into: &e)
        case .inetSocket(let r): r.encode(into: &e)
        case .fifo(let r): r.encode(into: &e)
        case .memfd(let r): r.encode(into: &e)
        case .inotify(let r): r.encode(into: &e)
        case .tcpConnection(let r): r.encode(into: &e)
        case .unlinked(let r): r.encode(into: &e)
        case .node(let r): r.encode(into: &e)
        case .pidfd(let r): r.encode(into: &e)
        case .namespace(let r): r.encode(into: &e)
        case .pty(let r): r.encode(into: &e)
        case .packetSocket(let r): r.encode(into: &e)
        case .netlinkSocket(let r): r.encode(into: &e)
        case .fanotify(let r): r.encode(into: &e)
        case .tun(let r): r.encode(into: &e)
        case .messageQueue(let r): r.encode(into: &e)
        }
    }

    /// The payload record of a descriptor of `kind`. Images before 1.2 kept
    /// the same facts in positional slots (`legacy`); they are read into
    /// the same records, so nothing after decoding knows the difference.
    static func decode(kind: FileDescriptorState.Kind, fd: Int32, record: RecordDecoder?, legacy: LegacyDescriptorFields) throws -> DescriptorPayload {
        func make<R: DescriptorPayloadRecord>(_ type: R.Type) throws -> R {
            if let record { return try R(decoding: record, fd: fd) }
            return try R(legacy: legacy, fd: fd)
        }
        switch kind {
        case .eventfd: return .eventfd(try make(EventFDRecord.self))
        case .signalfd: return .signalfd(try make(SignalFDRecord.self))
        case .timerfd: return .timerfd(try make(TimerFDRecord.self))
        case .epoll: return .epoll(try make(EpollRecord.self))
        case .unixSocket: return .unixSocket(try make(UnixSocketRecord.self))
        case .inetSocket: return .inetSocket(try make(InetSocketRecord.self))
        case .fifo: return .fifo(try make(FIFORecord.self))
        case .memfd: return .memfd(try make(MemFDRecord.self))
        case .inotify: return .inotify(try make(InotifyRecord.self))
        case .tcpConnection: return .tcpConnection(try make(TCPConnectionRecord.self))
        case .unlinked: return .unlinked(try make(UnlinkedFileRecord.self))
        case .node: return .node(try make(NodeRecord.self))
        case .pidfd: return .pidfd(try make(PidFDRecord.self))
        case .namespace: return .namespace(try make(NamespaceRecord.self))
        case .ptyMaster: return .pty(try make(PtyRecord.self))
        case .packetSocket: return .packetSocket(try make(PacketSocketRecord.self))
        case .netlinkSocket: return .netlinkSocket(try make(NetlinkSocketRecord.self))
        case .fanotify: return .fanotify(try make(FanotifyRecord.self))
        case .tun: return .tun(try make(TunFileRecord.self))
        case .messageQueue: return .messageQueue(try make(MessageQueueRecord.self))
        // Since 2026-12-06 a removed directory keeps its mode and owner in an unlinked file's record.
        case .deletedDirectory: return try record.map { .unlinked(try UnlinkedFileRecord(decoding: $0, fd: fd)) } ?? .none
        case .regular, .device, .inherited, .unsupported, .pipe, .unknown: return .none
        }
    }
}

/// A kind's payload record: explicit tags, bounds-checked decoding.
protocol DescriptorPayloadRecord: Equatable, Sendable {
    init(decoding d: RecordDecoder, fd: Int32) throws
    /// From a 1.0/1.1 image's positional values and socket fields.
    init(legacy: LegacyDescriptorFields, fd: Int32) throws
    func encode(into e: inout RecordEncoder)
}

/// The fd record fields of images before 1.2 that now live in payloads:
/// tag 15 (`values`), 17 (address), 18 (queued), 19 (peer address), 20 (watch paths).
struct LegacyDescriptorFields {
    var values: [UInt64]
    var address: [UInt8]
    var peerAddress: [UInt8]
    var queued: [[UInt8]]
    var watchPaths: [String]
    let base: UInt64

    init(_ d: RecordDecoder, tags: FileDescriptorState.Tag.Type) throws {
        values = try d.u64s(tags.legacyValues.rawValue)
        address = d.raw(tags.legacyAddress.rawValue) ?? []
        peerAddress = d.raw(tags.legacyPeerAddress.rawValue) ?? []
        queued = d.fields.filter { $0.tag == tags.legacyQueued.rawValue }.map { Array(d.bytes[$0.range]) }
        watchPaths = d.fields.filter { $0.tag == tags.legacyWatchPath.rawValue }.map { String(decoding: d.bytes[$0.range], as: UTF8.self) }
        base = d.base
    }

    /// The first `count` values, or a one-line refusal naming the kind.
    func values(_ count: Int, _ kind: String, fd: Int32) throws -> [UInt64] {
        guard values.count >= count else {
            throw ImageError.malformed(what: "\(kind) fd \(fd) has \(values.count) values, needs \(count)", offset: base)
        }
        return Array(values.prefix(count))
    }
}

extension RecordDecoder {
    /// A socket address field: at most 128 bytes (sockaddr_storage).
    func socketAddress(_ tag: UInt16, fd: Int32) throws -> [UInt8] {
        try checkedAddress(raw(tag) ?? [], fd: fd, base: base)
    }

    /// Every field of `tag`, raw, in order.
    func rawList(_ tag: UInt16) -> [[UInt8]] { fields.filter { $0.tag == tag }.map { Array(bytes[$0.range]) } }

    /// A flag stored as u64 0 or 1.
    func flag(_ tag: UInt16, fd: Int32, _ what: String) throws -> Bool {
        let v = try u64(tag, default: 0)
        guard v <= 1 else { throw ImageError.malformed(what: "fd \(fd): \(what) is \(v), not 0 or 1", offset: base) }
        return v == 1
    }
}

/// A socket address: at most 128 bytes (sockaddr_storage).
func checkedAddress(_ a: [UInt8], fd: Int32, base: UInt64) throws -> [UInt8] {
    guard a.count <= 128 else { throw ImageError.malformed(what: "socket fd \(fd): address of \(a.count) bytes", offset: base) }
    return a
}

/// Typed views of the payload, nil for a descriptor of another kind.
extension FileDescriptorState {
    public var eventfd: EventFDRecord? { if case .eventfd(let r) = payload { return r } else { return nil } }
    public var signalfd: SignalFDRecord? { if case .signalfd(let r) = payload { return r } else { return nil } }
    public var timerfd: TimerFDRecord? { if case .timerfd(let r) = payload { return r } else { return nil } }
    public var epoll: EpollRecord? { if case .epoll(let r) = payload { return r } else { return nil } }
    public var unixSocket: UnixSocketRecord? { if case .unixSocket(let r) = payload { return r } else { return nil } }
    public var inetSocket: InetSocketRecord? { if case .inetSocket(let r) = payload { return r } else { return nil } }
    public var packetSocket: PacketSocketRecord? { if case .packetSocket(let r) = payload { return r } else { return nil } }
    public var netlinkSocket: NetlinkSocketRecord? { if case .netlinkSocket(let r) = payload { return r } else { return nil } }
    public var fanotify: FanotifyRecord? { if case .fanotify(let r) = payload { return r } else { return nil } }
    public var tun: TunFileRecord? { if case .tun(let r) = payload { return r } else { return nil } }
    public var messageQueue: MessageQueueRecord? { if case .messageQueue(let r) = payload { return r } else { return nil } }
    public var fifo: FIFORecord? { if case .fifo(let r) = payload { return r } else { return nil } }
    public var memfd: MemFDRecord? { if case .memfd(let r) = payload { return r } else { return nil } }
    public var inotify: InotifyRecord? { if case .inotify(let r) = payload { return r } else { return nil } }
    public var tcpConnection: TCPConnectionRecord? { if case .tcpConnection(let r) = payload { return r } else { return nil } }
    public var unlinked: UnlinkedFileRecord? { if case .unlinked(let r) = payload { return r } else { return nil } }
    public var node: NodeRecord? { if case .node(let r) = payload { return r } else { return nil } }
    public var pidfd: PidFDRecord? { if case .pidfd(let r) = payload { return r } else { return nil } }
    public var namespace: NamespaceRecord? { if case .namespace(let r) = payload { return r } else { return nil } }
    public var pty: PtyRecord? { if case .pty(let r) = payload { return r } else { return nil } }

    /// A socket's own and peer address, whatever its kind (empty for other descriptors).
    public var socketAddresses: (local: [UInt8], peer: [UInt8]) {
        switch payload {
        case .unixSocket(let r): return (r.address, r.peerAddress)
        case .inetSocket(let r): return (r.address, r.peerAddress)
        case .tcpConnection(let r): return (r.address, r.peerAddress)
        default: return ([], [])
        }
    }
}
