/// An established TCP connection, saved with TCP_REPAIR: its sequence
/// numbers, negotiated options, window and both queues. Without
/// CAP_NET_ADMIN only its ends are known (`saved` false, no queues).
public struct TCPConnectionRecord: DescriptorPayloadRecord {
    public struct Window: Equatable, Sendable {
        /// struct tcp_repair_window: snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup.
        public var sndWl1: UInt64 = 0, sndWnd: UInt64 = 0, maxWindow: UInt64 = 0, rcvWnd: UInt64 = 0, rcvWup: UInt64 = 0
        public init() {}
        public var values: [UInt64] { [sndWl1, sndWnd, maxWindow, rcvWnd, rcvWup] }
    }
    public var family: UInt64
    public var sendSequence: UInt64 = 0, receiveSequence: UInt64 = 0
    public var mss: UInt64 = 0
    public var sendScale: UInt64 = 0, receiveScale: UInt64 = 0
    /// tcpi_options: 1 timestamps, 2 SACK, 4 window scaling.
    public var options: UInt64 = 0
    public var timestamp: UInt64 = 0
    public var window = Window()
    /// Bytes of the send queue the kernel had not sent yet.
    public var unsent: UInt64 = 0
    public var noDelay: Bool = false
    /// Since 1.3: tcpi_state (1 established, 4 FIN_WAIT1, 5 FIN_WAIT2, 8 CLOSE_WAIT, 9 LAST_ACK, 11 CLOSING).
    public var state: UInt64 = 1
    public var address: [UInt8]
    public var peerAddress: [UInt8]
    /// Receive then send queue; nil when the state could not be saved.
    public var queues: (receive: [UInt8], send: [UInt8])?

    public var saved: Bool { queues != nil }
    /// This end had sent its FIN (shutdown for writing or closed).
    public var finSent: Bool { [4, 5, 9, 11].contains(state) }
    /// The peer's FIN had arrived.
    public var finReceived: Bool { [8, 9, 11].contains(state) }

    public init(family: UInt64, address: [UInt8], peerAddress: [UInt8]) {
        self.family = family; self.address = address; self.peerAddress = peerAddress
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.family == b.family && a.sendSequence == b.sendSequence && a.receiveSequence == b.receiveSequence && a.mss == b.mss
            && a.sendScale == b.sendScale && a.receiveScale == b.receiveScale && a.options == b.options && a.timestamp == b.timestamp
            && a.window == b.window && a.unsent == b.unsent && a.noDelay == b.noDelay && a.state == b.state && a.address == b.address
            && a.peerAddress == b.peerAddress && a.queues?.receive == b.queues?.receive && a.queues?.send == b.queues?.send
    }

    enum Tag: UInt16, CaseIterable {
        case family = 1, sendSequence = 2, receiveSequence = 3, mss = 4, sendScale = 5, receiveScale = 6, options = 7, timestamp = 8
        case window = 9, unsent = 10, noDelay = 11, address = 12, peerAddress = 13, receiveQueue = 14, sendQueue = 15, state = 16
    }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.family.rawValue, family)
        e.raw(Tag.address.rawValue, address)
        e.raw(Tag.peerAddress.rawValue, peerAddress)
        guard let queues else { return }
        e.u64(Tag.sendSequence.rawValue, sendSequence)
        e.u64(Tag.receiveSequence.rawValue, receiveSequence)
        e.u64(Tag.mss.rawValue, mss)
        e.u64(Tag.sendScale.rawValue, sendScale)
        e.u64(Tag.receiveScale.rawValue, receiveScale)
        e.u64(Tag.options.rawValue, options)
        e.u64(Tag.timestamp.rawValue, timestamp)
        e.u64s(Tag.window.rawValue, window.values)
        e.u64(Tag.unsent.rawValue, unsent)
        e.u64(Tag.noDelay.rawValue, noDelay ? 1 : 0)
        if state != 1 { e.u64(Tag.state.rawValue, state) }
        e.raw(Tag.receiveQueue.rawValue, queues.receive)
        e.raw(Tag.sendQueue.rawValue, queues.send)
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        self.init(family: try d.u64(Tag.family.rawValue, "TCP family"),
                  address: try d.socketAddress(Tag.address.rawValue, fd: fd), peerAddress: try d.socketAddress(Tag.peerAddress.rawValue, fd: fd))
        if let receive = d.raw(Tag.receiveQueue.rawValue), let send = d.raw(Tag.sendQueue.rawValue) {
            queues = (receive, send)
            sendSequence = try d.u64(Tag.sendSequence.rawValue, "send sequence")
            receiveSequence = try d.u64(Tag.receiveSequence.rawValue, "receive sequence")
            mss = try d.u64(Tag.mss.rawValue, default: 0)
            sendScale = try d.u64(Tag.sendScale.rawValue, default: 0)
            receiveScale = try d.u64(Tag.receiveScale.rawValue, default: 0)
            options = try d.u64(Tag.options.rawValue, default: 0)
            timestamp = try d.u64(Tag.timestamp.rawValue, default: 0)
            if let r = d.first(Tag.window.rawValue) {
                let w = try RecordDecoder.u64List(d, r, count: 5, what: "TCP window")
                (window.sndWl1, window.sndWnd, window.maxWindow, window.rcvWnd, window.rcvWup) = (w[0], w[1], w[2], w[3], w[4])
            }
            unsent = try d.u64(Tag.unsent.rawValue, default: 0)
            noDelay = try d.flag(Tag.noDelay.rawValue, fd: fd, "TCP_NODELAY")
            state = try d.u64(Tag.state.rawValue, default: 1)
            guard [1, 4, 5, 8, 9, 11].contains(state) else {
                throw ImageError.malformed(what: "TCP connection fd \(fd): state \(state)", offset: d.base)
            }
        }
        try check(fd: fd, base: d.base)
    }

    /// Before 1.2: 15 positional values (family, send seq, receive seq, mss, scales, options,
    /// timestamp, the five window values, unsent, nodelay), the queues as two tag-18 fields.
    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        let v = try legacy.values(15, "tcp", fd: fd)
        guard legacy.queued.count == 2 || legacy.queued.isEmpty else {
            throw ImageError.malformed(what: "TCP connection fd \(fd): \(legacy.queued.count) queues", offset: legacy.base)
        }
        self.init(family: v[0], address: try checkedAddress(legacy.address, fd: fd, base: legacy.base),
                  peerAddress: try checkedAddress(legacy.peerAddress, fd: fd, base: legacy.base))
        (sendSequence, receiveSequence, mss, sendScale, receiveScale, options, timestamp) = (v[1], v[2], v[3], v[4], v[5], v[6], v[7])
        (window.sndWl1, window.sndWnd, window.maxWindow, window.rcvWnd, window.rcvWup) = (v[8], v[9], v[10], v[11], v[12])
        (unsent, noDelay) = (v[13], v[14] != 0)
        if legacy.queued.count == 2 { queues = (legacy.queued[0], legacy.queued[1]) }
        try check(fd: fd, base: legacy.base)
    }

    private func check(fd: Int32, base: UInt64) throws {
        guard !address.isEmpty, !peerAddress.isEmpty else {
            throw ImageError.malformed(what: "TCP connection fd \(fd): addresses \(address.count)/\(peerAddress.count) bytes", offset: base)
        }
    }
}
