import CheckpointImage
import Glibc
import LinuxKit

/// Established TCP connections, saved and rebuilt with the kernel's
/// TCP_REPAIR mode (CAP_NET_ADMIN): sequence numbers, negotiated options,
/// window, timestamp and both queues. A socket in repair mode sends nothing,
/// so a checkpointed process killed afterwards closes it silently and the
/// peer never learns; the restart makes the same connection from the saved
/// state without a handshake.
enum TCPRepair {
    static let repair: Int32 = 19, queue: Int32 = 20, queueSeq: Int32 = 21, options: Int32 = 22, timestamp: Int32 = 24, window: Int32 = 29
    static let recvQueue: Int32 = 1, sendQueue: Int32 = 2, offNoWindowProbe: Int32 = -1
    static let siocOutQ: UInt = 0x5411, siocInQ: UInt = 0x541B, siocOutQNotSent: UInt = 0x894B

    static func set(_ fd: Int32, _ name: Int32, _ value: Int32, level: Int32 = Int32(IPPROTO_TCP)) -> Bool {
        var v = value
        return setsockopt(fd, level, name, &v, 4) == 0
    }

    static func get(_ fd: Int32, _ name: Int32) -> UInt32? {
        var v: UInt32 = 0
        var length = socklen_t(4)
        return getsockopt(fd, Int32(IPPROTO_TCP), name, &v, &length) == 0 ? v : nil
    }

    /// Puts the live socket in repair mode and reads its state into `r`;
    /// false if this caller may not (no CAP_NET_ADMIN).
    /// Nil where repair mode cannot be had; else the socket's SO_REUSEADDR
    /// from before it (repair mode forces reuse, and leaving it clears the
    /// flag: `release(_:reuseAddress:)` puts it back on a live socket).
    static func capture(_ fd: Int32, into r: inout TCPConnectionRecord) throws -> Int32? {
        var reuse: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SocketOptions.reuseAddress, &reuse, &length)
        guard set(fd, repair, 1) else { return nil }
        do {
            guard set(fd, queue, sendQueue) else { throw CheckpointError(errno: errno, "TCP_REPAIR_QUEUE") }
            try read(fd, into: &r)
            return reuse
        } catch {
            release(fd, reuseAddress: reuse)
            throw error
        }
    }

    /// tcpi_state: 1 established ... 2 SYN_SENT, 3 SYN_RECV.
    static func state(_ fd: Int32) -> UInt64 {
        var info = [UInt8](repeating: 0, count: 8)
        var length = socklen_t(info.count)
        return getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 ? UInt64(info[0]) : 0
    }

    /// tcpi_state as the kernel names it.
    static func stateName(_ state: UInt64) -> String {
        let names = [1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
                     7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"]
        return names[Int(state)] ?? "state \(state)"
    }

    /// States whose connection can be rebuilt: established, or half closed either way.
    static let repairable: [UInt64] = [1, 4, 5, 8, 9, 11]

    private static func read(_ fd: Int32, into r: inout TCPConnectionRecord) throws {
        // Repair mode stops the socket sending, not receiving: data and ACKs
        // still in flight from a peer move the queues while we read them. So
        // read everything twice and keep a reading that stayed still.
        for _ in 0..<20 {
            let before = try snapshot(fd)
            r.state = before.state
            r.options = before.info[5]             // tcpi_options
            r.sendScale = before.info[6] & 0xf     // tcpi_snd_wscale
            r.receiveScale = before.info[6] >> 4   // tcpi_rcv_wscale
            (r.receiveSequence, r.sendSequence, r.unsent) = (before.receiveSequence, before.sendSequence, before.unsent)
            (r.window.sndWl1, r.window.sndWnd, r.window.maxWindow, r.window.rcvWnd, r.window.rcvWup) =
                (before.window[0], before.window[1], before.window[2], before.window[3], before.window[4])
            var queues: [[UInt8]] = []
            var short = false
            for (which, length) in [(recvQueue, before.inq), (sendQueue, before.outq)] {
                var data = [UInt8](repeating: 0, count: length)
                if length > 0 {
                    guard set(fd, queue, which) else { throw CheckpointError(errno: errno, "TCP_REPAIR_QUEUE") }
                    let n = data.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
                    if n != length { short = true }
                }
                queues.append(data)
            }
            r.queues = (queues[0], queues[1])
            if !short, try snapshot(fd) == before { break }
            r.queues = nil
        }
        guard r.queues != nil else { throw CheckpointError(EAGAIN, "TCP connection kept changing while it was read (a peer still sending?)") }
        r.mss = UInt64(get(fd, TCP_MAXSEG) ?? 0)
        r.timestamp = UInt64(get(fd, timestamp) ?? 0)
        r.noDelay = (get(fd, TCP_NODELAY) ?? 0) != 0
    }

    /// What moves while a socket in repair mode is read: sequences, queue
    /// lengths (data only), window.
    struct Snapshot: Equatable {
        var state: UInt64 = 0, info: [UInt64] = []
        var receiveSequence: UInt64 = 0, sendSequence: UInt64 = 0
        var inq = 0, outq = 0, unsent: UInt64 = 0
        var window: [UInt64] = []
    }

    private static func snapshot(_ fd: Int32) throws -> Snapshot {
        var s = Snapshot()
        // The sequences first, ending on the send queue: a socket in repair
        // mode whose selected queue is not the send queue still transmits
        // for real when an ACK opens the window, so everything below is read
        // once it can no longer move snd_nxt (a transmission while the
        // receive queue was selected once went unseen: the peer had 22 KiB
        // more than the image said was sent, and both ends dropped each
        // other's segments forever).
        for (which, keep) in [(recvQueue, 0), (sendQueue, 1)] {
            guard set(fd, queue, which), let seq = get(fd, queueSeq) else { throw CheckpointError(errno: errno, "TCP_REPAIR_QUEUE") }
            if keep == 0 { s.receiveSequence = UInt64(seq) } else { s.sendSequence = UInt64(seq) }
        }
        var info = [UInt8](repeating: 0, count: 232)
        var infoLength = socklen_t(info.count)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &infoLength) == 0 else { throw CheckpointError(errno: errno, "TCP_INFO") }
        s.state = UInt64(info[0])
        s.info = (0..<8).map { [0, 5, 6].contains($0) ? UInt64(info[$0]) : 0 }  // not the counters that tick
        var inq: Int32 = 0, outq: Int32 = 0, unsent: Int32 = 0
        _ = ioctl(fd, siocInQ, &inq)
        _ = ioctl(fd, siocOutQ, &outq)
        _ = ioctl(fd, siocOutQNotSent, &unsent)
        // A FIN not yet acknowledged takes one sequence number in the send
        // queue's counts (SIOCINQ already leaves a received FIN out).
        if [4, 9, 11].contains(s.state) {
            outq = max(outq - 1, 0)
            if unsent > 0 { unsent -= 1 }
        }
        (s.inq, s.outq, s.unsent) = (Int(max(inq, 0)), Int(max(outq, 0)), UInt64(max(unsent, 0)))
        var w = [UInt32](repeating: 0, count: 5)  // struct tcp_repair_window
        var wl = socklen_t(20)
        if getsockopt(fd, Int32(IPPROTO_TCP), window, &w, &wl) == 0 { s.window = w.map(UInt64.init) } else { s.window = [0, 0, 0, 0, 0] }
        return s
    }

    /// Takes a live socket out of repair mode without a window probe.
    static func release(_ fd: Int32) { _ = set(fd, repair, offNoWindowProbe) }

    /// Out of repair mode, a socket that runs on (a checkpoint that lets it
    /// go) with SO_REUSEADDR as it had it before.
    static func release(_ fd: Int32, reuseAddress: Int32) {
        release(fd)
        if reuseAddress != 0 { _ = set(fd, SocketOptions.reuseAddress, reuseAddress, level: SOL_SOCKET) }
    }

    /// A new socket in the saved connection's state, or why not.
    /// `newSocket` makes the socket (family, type, protocol): as the process
    /// that has it, where it may.
    static func rebuild(_ s: TCPConnectionRecord, socketOptions: [FileDescriptorState.SocketOption], fd number: Int32,
                        newSocket: (Int32, Int32, Int32) -> Int32 = { Glibc.socket($0, $1, $2) }) throws -> Int32 {
        guard let (recvData, sendData) = s.queues else { throw CheckpointError(EPERM, "fd \(number): TCP connection state was not saved") }
        let fd = try valueOrThrow("socket(TCP)") { newSocket(Int32(truncatingIfNeeded: s.family), Int32(SOCK_STREAM.rawValue), Int32(IPPROTO_TCP)) }
        do {
            guard set(fd, repair, 1) else {
                throw CheckpointError(errno, "fd \(number): TCP connection \(SocketAddress.describe(s.address)) -> \(SocketAddress.describe(s.peerAddress)) needs TCP_REPAIR (CAP_NET_ADMIN) to come back")
            }
            // No SO_REUSEADDR: repair mode already forces reuse, and setting it would undo that.
            // The other options a bind depends on (IPV6_V6ONLY, FREEBIND...) only take before it.
            SocketOptions.apply(socketOptions.filter { !isReuseAddress($0) }, to: fd, beforeBind: true)
            // The saved sequences count a FIN each way; the queues hold data only.
            let receiveStart = s.receiveSequence &- UInt64(recvData.count) &- (s.finReceived ? 1 : 0)
            let sendStart = s.sendSequence &- UInt64(sendData.count) &- (s.finSent ? 1 : 0)
            guard set(fd, queue, recvQueue), set(fd, queueSeq, Int32(bitPattern: UInt32(truncatingIfNeeded: receiveStart))),
                  set(fd, queue, sendQueue), set(fd, queueSeq, Int32(bitPattern: UInt32(truncatingIfNeeded: sendStart))) else {
                throw CheckpointError(errno: errno, "fd \(number): setting TCP sequence numbers")
            }
            try s.address.withUnsafeBytes { a in
                guard let base = a.baseAddress, bind(fd, base.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count)) == 0 else {
                    throw CheckpointError(errno: errno, "fd \(number): cannot bind \(SocketAddress.describe(s.address)) again")
                }
            }
            try s.peerAddress.withUnsafeBytes { a in
                // In repair mode connect() sends no SYN: the socket is simply established.
                guard let base = a.baseAddress, connect(fd, base.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count)) == 0 else {
                    throw CheckpointError(errno: errno, "fd \(number): cannot re-establish \(SocketAddress.describe(s.peerAddress))")
                }
            }
            var opts: [UInt32] = []
            let negotiated = s.options
            if s.mss > 0 { opts += [2, UInt32(truncatingIfNeeded: s.mss)] }                               // TCPOPT_MSS
            if negotiated & 4 != 0 { opts += [3, UInt32(truncatingIfNeeded: s.sendScale) | UInt32(truncatingIfNeeded: s.receiveScale) << 16] }  // TCPOPT_WINDOW
            if negotiated & 2 != 0 { opts += [4, 0] }                                                               // TCPOPT_SACK_PERM
            if negotiated & 1 != 0 { opts += [8, 0] }                                                               // TCPOPT_TIMESTAMP
            if !opts.isEmpty { _ = setsockopt(fd, Int32(IPPROTO_TCP), options, &opts, socklen_t(opts.count * 4)) }
            if negotiated & 1 != 0 { _ = set(fd, timestamp, Int32(bitPattern: UInt32(truncatingIfNeeded: s.timestamp))) }
            // Received bytes go back into the receive queue; sent but unacknowledged bytes into the send queue.
            let unsent = Int(min(s.unsent, UInt64(sendData.count)))
            // The original's buffers had grown to hold its queues; a new socket's are small.
            // Large enough for now, and unlocked below so the kernel tunes them again.
            growBuffer(fd, SocketOptions.sendBufferForce, SocketOptions.sendBuffer, sendData.count)
            growBuffer(fd, SocketOptions.receiveBufferForce, SocketOptions.receiveBuffer, recvData.count)
            try fill(fd, recvQueue, recvData[...], number)
            try fill(fd, sendQueue, sendData[..<(sendData.count - unsent)], number)
            // The window last: the kernel checks it against rcv_nxt, which the refilled queue moved.
            var w = s.window.values.map { UInt32(truncatingIfNeeded: $0) }
            // rcv_wup may not pass rcv_nxt, which here stops short of a received FIN.
            let receiveNext = UInt32(truncatingIfNeeded: s.receiveSequence &- (s.finReceived ? 1 : 0))
            if Int32(bitPattern: w[4] &- receiveNext) > 0 { w[4] = receiveNext }
            // snd_wl1 may not pass rcv_nxt + rcv_wnd either, yet an out-of-order
            // segment (its queue is not saved; the peer sends it again) can have
            // moved it there: any window update from rcv_nxt on is accepted.
            if Int32(bitPattern: w[0] &- (receiveNext &+ w[3])) > 0 { w[0] = receiveNext }
            // Also with the peer's window shut (snd_wnd 0): the largest window
            // seen bounds the segment size, and rcv_wnd is what this end promised.
            // (All zero: the dump could not read it.)
            if w[2] != 0 && setsockopt(fd, Int32(IPPROTO_TCP), window, &w, 20) != 0 {
                throw CheckpointError(errno: errno, "fd \(number): TCP_REPAIR_WINDOW")
            }
            resizeSegments(fd)
            // A receive buffer the program sized goes back now, before any end
            // of the image leaves repair mode: the ACKs those ends' window
            // probes draw carry this end's window, which must not offer the
            // room the refill needed (its peer would grow its largest window
            // and segment size, and send into memory this buffer has not).
            SocketOptions.apply(socketOptions.filter(isReceiveBuffer), to: fd, beforeBind: nil)
            // A FIN that had gone out is queued as sent too: in repair mode
            // shutdown() sends nothing and only counts it.
            if s.finSent && unsent == 0 {
                guard set(fd, queue, sendQueue), shutdown(fd, Int32(SHUT_WR)) == 0 else {
                    throw CheckpointError(errno: errno, "fd \(number): queueing the FIN again")
                }
            }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// The segment size is computed in connect(), before TCP_REPAIR_OPTIONS
    /// may give the connection's MSS, so it stays the default clamp's (524
    /// bytes for IPv4, 1208 for IPv6): a restored loopback end sent such
    /// segments, whose overhead filled the peer's receive buffer until both
    /// ends stalled for good. Setting the IP options, here to none, makes
    /// the kernel compute it again (tcp_sync_mss) from the MSS and window
    /// the connection has now: the original's. (The IPv4 level: IPv6 header
    /// options of none set nothing and compute nothing.)
    private static func resizeSegments(_ fd: Int32) {
        _ = setsockopt(fd, Int32(IPPROTO_IP), IP_OPTIONS, nil, 0)
    }

    /// Takes a rebuilt socket out of repair mode once every socket of the
    /// image exists (so the window probe it sends finds its peer): then the
    /// bytes never sent, the FINs, the options.
    static func resume(_ fd: Int32, _ s: TCPConnectionRecord, options: [FileDescriptorState.SocketOption], fd number: Int32,
                       warnings: inout [String]) throws -> [String] {
        let sendData = s.queues?.send ?? []
        let unsent = Int(min(s.unsent, UInt64(sendData.count)))
        // With a window probe: the peer's answer tells the new socket its
        // current window and what it has acknowledged meanwhile.
        guard set(fd, repair, 0) else { throw CheckpointError(errno, "fd \(number): leaving TCP repair mode failed") }
        // Bytes the kernel had not sent yet are simply sent now, then the FIN behind them.
        if unsent > 0 {
            do {
                try queue(fd, sendData[(sendData.count - unsent)...], number)
            } catch {
                throw CheckpointError(error, context: "fd \(number): \(unsent) unsent bytes could not be queued again")
            }
            if s.finSent { _ = shutdown(fd, Int32(SHUT_WR)) }
        }
        var unlocked: Int32 = 0
        _ = setsockopt(fd, SOL_SOCKET, SocketOptions.bufferLock, &unlocked, 4)
        // The peer's FIN came and was acknowledged: it will not come again, so it is delivered from here.
        if s.finReceived {
            let sendStart = s.sendSequence &- UInt64(sendData.count) &- (s.finSent ? 1 : 0)
            try PeerFIN.deliver(to: s, sequence: UInt32(truncatingIfNeeded: s.receiveSequence &- 1),
                                acknowledging: UInt32(truncatingIfNeeded: sendStart), fd: number)
            // A firewall rule of the namespace may drop it (zdtm
            // socket-tcp-closed-last-ack: the peer's port is closed off):
            // then reads end where they did all the same.
            if !PeerFIN.arrived(fd) {
                _ = shutdown(fd, Int32(SHUT_RD))
                warnings.append("fd \(number): the peer's FIN could not be delivered again (a firewall rule drops it?): reads end at the same place, but the kernel keeps the connection in \(stateName(state(fd))) instead of a state past the peer's FIN")
            }
        }
        if s.noDelay { _ = set(fd, TCP_NODELAY, 1) }
        // After repair mode, which leaves SO_REUSEADDR off; the rest were set before the bind.
        return SocketOptions.apply(options.filter(isReuseAddress), to: fd, beforeBind: nil)
            + SocketOptions.apply(options, to: fd, beforeBind: false)
    }

    private static func isReceiveBuffer(_ o: FileDescriptorState.SocketOption) -> Bool {
        o.level == SOL_SOCKET && o.name == SocketOptions.receiveBuffer
    }

    private static func isReuseAddress(_ o: FileDescriptorState.SocketOption) -> Bool {
        o.level == SOL_SOCKET && o.name == SocketOptions.reuseAddress
    }

    /// SO_*BUFFORCE (root) or the plain option, for `bytes` of queue.
    private static func growBuffer(_ fd: Int32, _ force: Int32, _ plain: Int32, _ bytes: Int) {
        guard bytes > 0 else { return }
        var size = Int32(clamping: bytes + 65536)
        if setsockopt(fd, SOL_SOCKET, force, &size, 4) != 0 { _ = setsockopt(fd, SOL_SOCKET, plain, &size, 4) }
    }

    /// Bytes into a socket's receive queue (repair mode, connected).
    static func fillReceiveQueue(_ fd: Int32, _ data: ArraySlice<UInt8>, _ number: Int32) throws {
        growBuffer(fd, SocketOptions.receiveBufferForce, SocketOptions.receiveBuffer, data.count)
        try fill(fd, recvQueue, data, number)
    }

    private static func fill(_ fd: Int32, _ which: Int32, _ data: ArraySlice<UInt8>, _ number: Int32) throws {
        guard !data.isEmpty else { return }
        guard set(fd, queue, which) else { throw CheckpointError(errno, "fd \(number): TCP_REPAIR_QUEUE \(which)") }
        try queue(fd, data, number, which: which)
    }

    /// Sends `data` without blocking, in chunks the socket takes.
    private static func queue(_ fd: Int32, _ data: ArraySlice<UInt8>, _ number: Int32, which: Int32 = 0) throws {
        var at = data.startIndex
        while at < data.endIndex {
            let chunk = min(65536, data.endIndex - at)
            let n = data[at..<(at + chunk)].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            guard n > 0 else { throw CheckpointError(n < 0 ? errno : EIO, "fd \(number): refilling TCP queue \(which): \(errorText(errno))") }
            at += n
        }
    }
}
