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

    static func set(_ fd: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var v = value
        return setsockopt(fd, Int32(IPPROTO_TCP), name, &v, 4) == 0
    }

    static func get(_ fd: Int32, _ name: Int32) -> UInt32? {
        var v: UInt32 = 0
        var length = socklen_t(4)
        return getsockopt(fd, Int32(IPPROTO_TCP), name, &v, &length) == 0 ? v : nil
    }

    /// Puts the live socket in repair mode and reads its state into `r`;
    /// false if this caller may not (no CAP_NET_ADMIN).
    static func capture(_ fd: Int32, into r: inout TCPConnectionRecord) throws -> Bool {
        guard set(fd, repair, 1) else { return false }
        var inq: Int32 = 0, outq: Int32 = 0, unsent: Int32 = 0
        _ = ioctl(fd, siocInQ, &inq)
        _ = ioctl(fd, siocOutQ, &outq)
        _ = ioctl(fd, siocOutQNotSent, &unsent)
        var queues: [[UInt8]] = []
        for (which, length) in [(recvQueue, inq), (sendQueue, outq)] {
            guard set(fd, queue, which), let seq = get(fd, queueSeq) else {
                throw CheckpointError(errno: errno, "TCP_REPAIR_QUEUE")
            }
            if which == recvQueue { r.receiveSequence = UInt64(seq) } else { r.sendSequence = UInt64(seq) }
            var data = [UInt8](repeating: 0, count: Int(max(length, 0)))
            if length > 0 {
                let n = data.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
                guard n == Int(length) else { throw CheckpointError(EIO, "TCP queue \(which): peeked \(n) of \(length) bytes") }
            }
            queues.append(data)
        }
        r.queues = (queues[0], queues[1])
        var info = [UInt8](repeating: 0, count: 232)
        var infoLength = socklen_t(info.count)
        if getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &infoLength) == 0 {
            r.options = UInt64(info[5])            // tcpi_options
            r.sendScale = UInt64(info[6] & 0xf)    // tcpi_snd_wscale
            r.receiveScale = UInt64(info[6] >> 4)  // tcpi_rcv_wscale
        }
        r.mss = UInt64(get(fd, TCP_MAXSEG) ?? 0)
        r.timestamp = UInt64(get(fd, timestamp) ?? 0)
        var w = [UInt32](repeating: 0, count: 5)  // struct tcp_repair_window
        var wl = socklen_t(20)
        if getsockopt(fd, Int32(IPPROTO_TCP), window, &w, &wl) == 0 {
            (r.window.sndWl1, r.window.sndWnd, r.window.maxWindow, r.window.rcvWnd, r.window.rcvWup) =
                (UInt64(w[0]), UInt64(w[1]), UInt64(w[2]), UInt64(w[3]), UInt64(w[4]))
        }
        r.unsent = UInt64(max(unsent, 0))
        r.noDelay = (get(fd, TCP_NODELAY) ?? 0) != 0
        return true
    }

    /// Takes a live socket out of repair mode without a window probe.
    static func release(_ fd: Int32) { _ = set(fd, repair, offNoWindowProbe) }

    /// A new socket in the saved connection's state, or why not.
    static func rebuild(_ s: TCPConnectionRecord, fd number: Int32) throws -> Int32 {
        guard let (recvData, sendData) = s.queues else { throw CheckpointError(EPERM, "fd \(number): TCP connection state was not saved") }
        let fd = try valueOrThrow("socket(TCP)") { socket(Int32(s.family), Int32(SOCK_STREAM.rawValue), Int32(IPPROTO_TCP)) }
        do {
            guard set(fd, repair, 1) else {
                throw CheckpointError(errno, "fd \(number): TCP connection \(SocketAddress.describe(s.address)) -> \(SocketAddress.describe(s.peerAddress)) needs TCP_REPAIR (CAP_NET_ADMIN) to come back")
            }
            // No SO_REUSEADDR: repair mode already forces reuse, and setting it would undo that.
            guard set(fd, queue, recvQueue), set(fd, queueSeq, Int32(bitPattern: UInt32(truncatingIfNeeded: s.receiveSequence &- UInt64(recvData.count)))),
                  set(fd, queue, sendQueue), set(fd, queueSeq, Int32(bitPattern: UInt32(truncatingIfNeeded: s.sendSequence &- UInt64(sendData.count)))) else {
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
            try fill(fd, recvQueue, recvData[...], number)
            try fill(fd, sendQueue, sendData[..<(sendData.count - unsent)], number)
            // The window last: the kernel checks it against rcv_nxt, which the refilled queue moved.
            var w = s.window.values.map { UInt32(truncatingIfNeeded: $0) }
            if w[1] != 0 && setsockopt(fd, Int32(IPPROTO_TCP), window, &w, 20) != 0 {
                throw CheckpointError(errno: errno, "fd \(number): TCP_REPAIR_WINDOW")
            }
            guard set(fd, repair, offNoWindowProbe) else { throw CheckpointError(errno, "fd \(number): leaving TCP repair mode failed") }
            // Bytes the kernel had not sent yet are simply sent now.
            if unsent > 0 {
                let n = sendData[(sendData.count - unsent)...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                guard n == unsent else { throw CheckpointError(errno, "fd \(number): \(unsent) unsent bytes could not be queued again") }
            }
            if s.noDelay { _ = set(fd, TCP_NODELAY, 1) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    private static func fill(_ fd: Int32, _ which: Int32, _ data: ArraySlice<UInt8>, _ number: Int32) throws {
        guard !data.isEmpty else { return }
        guard set(fd, queue, which) else { throw CheckpointError(errno, "fd \(number): TCP_REPAIR_QUEUE \(which)") }
        var at = data.startIndex
        while at < data.endIndex {
            let chunk = min(65536, data.endIndex - at)
            let n = data[at..<(at + chunk)].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            guard n > 0 else { throw CheckpointError(n < 0 ? errno : EIO, "fd \(number): refilling TCP queue \(which): \(errorText(errno))") }
            at += n
        }
    }
}
