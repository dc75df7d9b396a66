/// A UNIX socket as sock_diag and its options describe it.
public struct UnixSocketRecord: DescriptorPayloadRecord {
    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    public var type: UInt64
    /// 1 connected, 7 unconnected, 10 listening.
    public var state: UInt64
    /// The peer's socket inode; 0 for none.
    public var peer: UInt64
    /// Bit 1: shut down for reading; bit 2: for writing.
    public var shutdown: UInt64
    /// SO_SNDBUF and SO_RCVBUF as the kernel reports them (doubled).
    public var sendBuffer: UInt64, receiveBuffer: UInt64
    public var backlog: UInt64
    /// sun_path bytes as bound (an abstract name starts with NUL); empty if unbound.
    public var address: [UInt8]
    /// A connected datagram socket: the bound name of the socket it is connected to.
    public var peerAddress: [UInt8]
    /// The receive queue's messages, in order (a stream's bytes as one), on the first descriptor of the socket.
    public var queued: [[UInt8]]
    /// Since 1.3: the socket file of a path name was removed or replaced
    /// after bind: the name is bound again, then its file removed.
    public var nameGone: Bool = false
    /// Since 1.3: mode bits and owner (uid, gid) of the socket file, when it still exists.
    public var fileMode: UInt64? = nil
    public var fileOwner: [UInt64] = []
    /// Since 1.3: connected to a listener of the image that had not accepted
    /// it yet: that listener's inode (the connection is made again to its name).
    public var pendingOn: UInt64 = 0
    /// Since 1.3: descriptors in flight (SCM_RIGHTS) with queued messages:
    /// per message, the numbers of the process's in-flight files (`FileDescriptorState.inFlight`).
    public var passed: [PassedFiles] = []
    /// Written since 2026-12-07: who sent a queued datagram, where it had a
    /// name (what recvfrom gives the reader): sun_path bytes as `address`.
    public var senders: [Sender] = []

    public struct Sender: Equatable, Sendable {
        /// Index into `queued`.
        public var message: Int
        public var address: [UInt8]
        public init(message: Int, address: [UInt8]) { self.message = message; self.address = address }
    }

    public struct PassedFiles: Equatable, Sendable {
        /// Index into `queued`.
        public var message: Int
        public var fds: [Int32]
        public init(message: Int, fds: [Int32]) { self.message = message; self.fds = fds }
    }

    public static let listening: UInt64 = 10
    public static let connected: UInt64 = 1

    public init(type: UInt64, state: UInt64, peer: UInt64, shutdown: UInt64 = 0, sendBuffer: UInt64 = 0, receiveBuffer: UInt64 = 0,
                backlog: UInt64 = 0, address: [UInt8] = [], peerAddress: [UInt8] = [], queued: [[UInt8]] = []) {
        self.type = type; self.state = state; self.peer = peer; self.shutdown = shutdown
        self.sendBuffer = sendBuffer; self.receiveBuffer = receiveBuffer; self.backlog = backlog
        self.address = address; self.peerAddress = peerAddress; self.queued = queued
    }

    enum Tag: UInt16, CaseIterable {
        case type = 1, state = 2, peer = 3, shutdown = 4, sendBuffer = 5, receiveBuffer = 6, backlog = 7
        case address = 8, peerAddress = 9, queued = 10, nameGone = 11, fileMode = 12, fileOwner = 13, pendingOn = 14, passed = 15, sender = 16
    }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.type.rawValue, type)
        e.u64(Tag.state.rawValue, state)
        e.u64(Tag.peer.rawValue, peer)
        e.u64(Tag.shutdown.rawValue, shutdown)
        e.u64(Tag.sendBuffer.rawValue, sendBuffer)
        e.u64(Tag.receiveBuffer.rawValue, receiveBuffer)
        e.u64(Tag.backlog.rawValue, backlog)
        if !address.isEmpty { e.raw(Tag.address.rawValue, address) }
        if !peerAddress.isEmpty { e.raw(Tag.peerAddress.rawValue, peerAddress) }
        for m in queued { e.raw(Tag.queued.rawValue, m) }
        if nameGone { e.u64(Tag.nameGone.rawValue, 1) }
        if let fileMode { e.u64(Tag.fileMode.rawValue, fileMode) }
        if !fileOwner.isEmpty { e.u64s(Tag.fileOwner.rawValue, fileOwner) }
        if pendingOn != 0 { e.u64(Tag.pendingOn.rawValue, pendingOn) }
        for p in passed { e.u64s(Tag.passed.rawValue, [UInt64(p.message)] + p.fds.map { UInt64($0) }) }
        for x in senders { e.raw(Tag.sender.rawValue, withUnsafeBytes(of: UInt64(x.message).littleEndian) { Array($0) } + x.address) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        self.init(type: try d.u64(Tag.type.rawValue, "socket type"), state: try d.u64(Tag.state.rawValue, "socket state"),
                  peer: try d.u64(Tag.peer.rawValue, default: 0), shutdown: try d.u64(Tag.shutdown.rawValue, default: 0),
                  sendBuffer: try d.u64(Tag.sendBuffer.rawValue, default: 0), receiveBuffer: try d.u64(Tag.receiveBuffer.rawValue, default: 0),
                  backlog: try d.u64(Tag.backlog.rawValue, default: 0),
                  address: try d.socketAddress(Tag.address.rawValue, fd: fd), peerAddress: try d.socketAddress(Tag.peerAddress.rawValue, fd: fd),
                  queued: d.rawList(Tag.queued.rawValue))
        nameGone = try d.flag(Tag.nameGone.rawValue, fd: fd, "name gone")
        if d.first(Tag.fileMode.rawValue) != nil { fileMode = try d.u64(Tag.fileMode.rawValue, "socket file mode") & 0o7777 }
        fileOwner = try d.u64s(Tag.fileOwner.rawValue)
        pendingOn = try d.u64(Tag.pendingOn.rawValue, default: 0)
        for f in d.fields where f.tag == Tag.passed.rawValue {
            let v = try d.u64s(in: f.range, tag: f.tag)
            guard v.count >= 2, v.count <= 254, v[0] < UInt64(queued.count), v.dropFirst().allSatisfy({ $0 <= UInt64(Int32.max) }),
                  !passed.contains(where: { UInt64($0.message) == v[0] }) else {
                throw ImageError.malformed(what: "unix socket fd \(fd): descriptors in flight \(v) for \(queued.count) message(s)", offset: d.offset(of: f.range))
            }
            passed.append(PassedFiles(message: Int(v[0]), fds: v.dropFirst().map { Int32($0) }))
        }
        for f in d.fields where f.tag == Tag.sender.rawValue {
            let bytes = Array(d.bytes[f.range])
            let message = bytes.count >= 8 ? bytes[0..<8].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } : .max
            let address = bytes.count >= 8 ? Array(bytes[8...]) : []
            guard message < UInt64(queued.count), !address.isEmpty, !senders.contains(where: { UInt64($0.message) == message }) else {
                throw ImageError.malformed(what: "unix socket fd \(fd): a sender of message \(message) of \(queued.count)", offset: d.offset(of: f.range))
            }
            senders.append(Sender(message: Int(message), address: try checkedAddress(address, fd: fd, base: d.offset(of: f.range))))
        }
        guard fileOwner.isEmpty || (fileOwner.count == 2 && fileOwner.allSatisfy { $0 <= UInt64(UInt32.max) }) else {
            throw ImageError.malformed(what: "unix socket fd \(fd): file owner \(fileOwner)", offset: d.base)
        }
        try check(fd: fd, base: d.base)
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        let v = try legacy.values(7, "unix socket", fd: fd)
        self.init(type: v[0], state: v[1], peer: v[2], shutdown: v[3], sendBuffer: v[4], receiveBuffer: v[5], backlog: v[6],
                  address: try checkedAddress(legacy.address, fd: fd, base: legacy.base),
                  peerAddress: try checkedAddress(legacy.peerAddress, fd: fd, base: legacy.base), queued: legacy.queued)
        try check(fd: fd, base: legacy.base)
    }

    private func check(fd: Int32, base: UInt64) throws {
        guard type <= 10, state <= 12, shutdown <= 3 else {
            throw ImageError.malformed(what: "unix socket fd \(fd): type \(type), state \(state), shutdown \(shutdown)", offset: base)
        }
    }
}
