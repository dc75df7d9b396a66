/// A listening, bound or datagram TCP/UDP socket (not an established TCP connection).
public struct InetSocketRecord: DescriptorPayloadRecord {
    public var family: UInt64
    public var type: UInt64
    public var `protocol`: UInt64
    public var listening: Bool
    public var backlog: UInt64
    /// The bound sockaddr, and the peer of a connected UDP socket.
    public var address: [UInt8]
    public var peerAddress: [UInt8]
    /// Since 1.3: directions shut down (1 reading, 2 writing); a TCP socket
    /// with both and no peer is a connection that has ended.
    public var shutdown: UInt64 = 0
    /// Since 2026-12-06: what an ended TCP connection (reset or closed) had
    /// received that the program had not read; read before end of file.
    public var unread: [UInt8] = []
    /// Since 2026-12-07: a UDP socket's received datagrams not yet read, in
    /// order, each with the address recvfrom names as its sender.
    public var datagrams: [Datagram] = []

    public struct Datagram: Equatable, Sendable {
        public var sender: [UInt8]
        public var data: [UInt8]
        public init(sender: [UInt8], data: [UInt8]) { self.sender = sender; self.data = data }
    }

    /// Most bytes of datagrams one socket's record holds (the sum of their data).
    public static let datagramLimit = 64 << 20

    public init(family: UInt64, type: UInt64, protocol: UInt64, listening: Bool, backlog: UInt64, address: [UInt8] = [], peerAddress: [UInt8] = []) {
        self.family = family; self.type = type; self.protocol = `protocol`; self.listening = listening
        self.backlog = backlog; self.address = address; self.peerAddress = peerAddress
    }

    enum Tag: UInt16, CaseIterable { case family = 1, type = 2, `protocol` = 3, listening = 4, backlog = 5, address = 6, peerAddress = 7, shutdown = 8, unread = 9, datagram = 10 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.family.rawValue, family)
        e.u64(Tag.type.rawValue, type)
        e.u64(Tag.protocol.rawValue, `protocol`)
        e.u64(Tag.listening.rawValue, listening ? 1 : 0)
        e.u64(Tag.backlog.rawValue, backlog)
        if !address.isEmpty { e.raw(Tag.address.rawValue, address) }
        if !peerAddress.isEmpty { e.raw(Tag.peerAddress.rawValue, peerAddress) }
        if shutdown != 0 { e.u64(Tag.shutdown.rawValue, shutdown) }
        if !unread.isEmpty { e.raw(Tag.unread.rawValue, unread) }
        // Each: u16 sender length, the sender's sockaddr, the data.
        for g in datagrams {
            e.raw(Tag.datagram.rawValue, withUnsafeBytes(of: UInt16(g.sender.count).littleEndian) { Array($0) } + g.sender + g.data)
        }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        self.init(family: try d.u64(Tag.family.rawValue, "socket family"), type: try d.u64(Tag.type.rawValue, "socket type"),
                  protocol: try d.u64(Tag.protocol.rawValue, default: 0), listening: try d.flag(Tag.listening.rawValue, fd: fd, "listening"),
                  backlog: try d.u64(Tag.backlog.rawValue, default: 0),
                  address: try d.socketAddress(Tag.address.rawValue, fd: fd), peerAddress: try d.socketAddress(Tag.peerAddress.rawValue, fd: fd))
        shutdown = try d.u64(Tag.shutdown.rawValue, default: 0)
        unread = d.raw(Tag.unread.rawValue) ?? []
        guard shutdown <= 3, unread.count <= 64 << 20 else {
            throw ImageError.malformed(what: "inet socket fd \(fd): shutdown \(shutdown), \(unread.count) unread bytes", offset: d.base)
        }
        var total = 0
        for raw in d.rawList(Tag.datagram.rawValue) {
            let length = raw.count >= 2 ? Int(raw[0]) | Int(raw[1]) << 8 : -1
            guard length >= 2, length <= 128, raw.count >= 2 + length else {
                throw ImageError.malformed(what: "inet socket fd \(fd): a queued datagram's sender of \(length) bytes in \(raw.count)", offset: d.base)
            }
            total += raw.count - 2 - length
            guard total <= Self.datagramLimit else {
                throw ImageError.malformed(what: "inet socket fd \(fd): queued datagrams over \(Self.datagramLimit) bytes", offset: d.base)
            }
            datagrams.append(Datagram(sender: Array(raw[2..<(2 + length)]), data: Array(raw[(2 + length)...])))
        }
        guard datagrams.isEmpty || type == 2 else {
            throw ImageError.malformed(what: "inet socket fd \(fd): queued datagrams on a socket of type \(type)", offset: d.base)
        }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        let v = try legacy.values(5, "inet socket", fd: fd)
        self.init(family: v[0], type: v[1], protocol: v[2], listening: v[3] == 1, backlog: v[4],
                  address: try checkedAddress(legacy.address, fd: fd, base: legacy.base),
                  peerAddress: try checkedAddress(legacy.peerAddress, fd: fd, base: legacy.base))
    }
}
