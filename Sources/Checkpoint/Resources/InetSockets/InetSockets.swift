import CheckpointImage
import Glibc
import LinuxKit

/// Listening, bound and datagram TCP/UDP sockets (an established TCP
/// connection is a TCPConnections one): bound, connected and listening
/// again at restart.
enum InetSockets: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.inetSocket]
    static var followsForkSharing: Bool { false }

    /// Claimed through `Sockets`, which knows the family.
    static func claims(_ d: OpenDescriptor) -> Bool { false }
    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {}

    static func describe(_ d: OpenDescriptor, copy: Int32, family: Int32, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        let type = SocketBorrower.option(copy, SO_TYPE), proto = max(SocketBorrower.option(copy, SO_PROTOCOL), 0)
        let listening = SocketBorrower.option(copy, SO_ACCEPTCONN) == 1
        let local = SocketBorrower.name(copy, getsockname)
        var peer = SocketBorrower.name(copy, getpeername)
        if type == SOCK_STREAM.rawValue && !listening && !peer.isEmpty {
            return try TCPConnections.describe(d, copy: copy, family: family, local: local, peer: peer, into: &state, in: context)
        }
        if type == SOCK_STREAM.rawValue && !listening { peer = SocketBorrower.streamPeer(copy, family: family) }
        guard [SOCK_STREAM, SOCK_DGRAM, SOCK_RAW].map({ Int32($0.rawValue) }).contains(type) else {
            return context.warn("fd \(d.fd): inet sockets of type \(type) are not saved; it will be closed after restart")
        }
        var backlog: UInt64 = 0
        if listening {
            // tcp_info: tcpi_unacked (offset 24) = connections waiting, tcpi_sacked (28) = backlog, for listeners.
            var info = [UInt8](repeating: 0, count: 232)
            var length = socklen_t(info.count)
            if getsockopt(copy, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 && length >= 32 {
                backlog = UInt64(info.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 28, as: UInt32.self) })
            }
        }
        state.kind = .inetSocket
        var record = InetSocketRecord(family: UInt64(family), type: UInt64(type), protocol: UInt64(proto),
                                      listening: listening, backlog: backlog, address: local, peerAddress: peer)
        // Directions shut down (sock_diag). A TCP socket in state CLOSE with
        // both is a connection that has ended; one bound and never connected has none.
        let closedStream = type == SOCK_STREAM.rawValue && TCPRepair.state(copy) == 7
        if !listening && (type != SOCK_STREAM.rawValue || closedStream) {
            if let shut = context.shared.inetShutdowns.of(inode: d.inode, family: family, protocol: proto) {
                record.shutdown = UInt64(shut & 3)
            } else if closedStream {
                // Without sock_diag: an ended connection polls POLLRDHUP (0x2000).
                var p = pollfd(fd: copy, events: Int16(0x2000), revents: 0)
                if poll(&p, 1, 0) == 1 && p.revents & Int16(0x2000) != 0 { record.shutdown = 3 }
            }
        }
        if closedStream && record.shutdown == 3 { record.unread = unreadBytes(copy) }
        if type == SOCK_DGRAM.rawValue && (proto == Int32(IPPROTO_UDP) || proto == 136) {
            try refuseHeldBack(d, copy: copy, local: local)
            let (datagrams, note) = UDPQueue.peek(copy)
            record.datagrams = datagrams
            if let note { context.warn("fd \(d.fd): UDP socket \(SocketAddress.describe(local)): \(note)") }
        } else if type == SOCK_DGRAM.rawValue {
            // An ICMP (ping) socket's replies are not saved. The peek moves
            // an enabled SO_PEEK_OFF, so it is put back.
            var probe: UInt8 = 0
            let look = { recv(copy, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) >= 0 }
            let waiting = SocketBorrower.peekingFromStart(copy, look) ?? look()
            if waiting { context.warn("fd \(d.fd): datagrams waiting in socket \(SocketAddress.describe(local)) are not saved") }
        }
        state.payload = .inetSocket(record)
    }

    /// An ended connection's bytes the program has not read (a reset one keeps them),
    /// peeked: SIOCINQ counts them, and a peek of only those never takes its pending error.
    static func unreadBytes(_ copy: Int32) -> [UInt8] {
        var waiting: Int32 = 0
        guard ioctl(copy, TCPRepair.siocInQ, &waiting) == 0, waiting > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(min(waiting, 64 << 20)))
        let n = bytes.withUnsafeMutableBytes { recv(copy, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
        return n > 0 ? Array(bytes[0..<n]) : []
    }

    /// A UDP datagram held back (UDP_CORK, or MSG_MORE) sits in the send
    /// queue until the program sends the rest; nothing can read it out, so
    /// saving the socket would lose it: the checkpoint is refused (as CRIU
    /// refuses). Bytes merely on their way out leave within milliseconds.
    static func refuseHeldBack(_ d: OpenDescriptor, copy: Int32, local: [UInt8]) throws {
        for _ in 0..<20 {
            var queued: Int32 = 0
            guard ioctl(copy, TCPRepair.siocOutQ, &queued) == 0, queued > 0 else { return }
            usleep(5000)
        }
        throw CheckpointError(ENOTSUP, "fd \(d.fd): UDP socket \(SocketAddress.describe(local)) holds a datagram not yet sent (UDP_CORK or MSG_MORE), which cannot be saved")
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile { try Sockets.deliver(f, in: c) }

    static func describe(_ f: FileDescriptorState) -> String { Sockets.describe(f) }
}

extension SocketFactory {
    /// The killed original's closed connections linger in TIME_WAIT on its
    /// port, and a listener without SO_REUSEADDR (MPICH's) cannot bind past
    /// them: as root they are dropped (sock_diag SOCK_DESTROY, what `ss -K`
    /// does). Returns how many were.
    func dropTimeWait(on address: [UInt8]) -> Int {
        guard address.count >= 8 else { return 0 }
        let family = Int32(address[0]) | Int32(address[1]) << 8
        let port = UInt16(address[2]) << 8 | UInt16(address[3])
        let host: [UInt8] = family == AF_INET6 && address.count >= 24 ? Array(address[8..<24]) : Array(address[4..<8])
        let wildcard = host.allSatisfy { $0 == 0 }
        return (try? SockDiag.destroyTimeWait(family: family, port: port, address: wildcard ? nil : host)) ?? 0
    }

    /// Bound (and listening) again at its address; a connected UDP socket connects again.
    func makeInet(_ f: FileDescriptorState, _ s: InetSocketRecord) throws -> Made {
        let fd = try valueOrThrow("socket(\(s.family))") {
            ownedSocket(of: f.inode, Int32(truncatingIfNeeded: s.family), Int32(truncatingIfNeeded: s.type), Int32(truncatingIfNeeded: s.protocol))
        }
        remember(f.inode, fd)
        // The killed original's sockets may still hold the address, or it may
        // not be local now: bind with the options that allow it, then leave
        // them as the program had them.
        if s.shutdown == 3 && s.type == SOCK_STREAM.rawValue {
            if let ended = try EndedConnection.rebuild(family: s.family, local: s.address, peer: s.peerAddress, options: f.socketOptions,
                                                       unread: s.unread, fd: f.fd, dropTimeWait: { dropTimeWait(on: s.address) }) {
                Glibc.close(fd)
                remember(f.inode, ended)
                return .socket(ended)
            }
            // Without repair mode: shut (the kernel says ENOTCONN but marks it), not bound, no peer.
            _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
            if s.peerAddress.isEmpty { return .socket(fd) }
            return .socketWithWarning(fd, "fd \(f.fd): the ended TCP connection to \(describe(s.peerAddress)) comes back without its addresses (rebuilding them needs CAP_NET_ADMIN)")
        }
        for o in SocketOptions.bindHelpers { SocketOptions.setInt(fd, o, 1) }
        let early = SocketOptions.apply(f.socketOptions, to: fd, beforeBind: true)
        defer {
            for o in SocketOptions.bindHelpers where !f.socketOptions.contains(where: { $0.level == o.level && $0.name == o.name }) {
                SocketOptions.setInt(fd, o, 0)
            }
        }
        if !SocketAddress.isUnbound(s.address) {
            func bindAgain() -> Int32 {
                s.address.withUnsafeBytes { a -> Int32 in
                    guard let base = a.baseAddress else { return -1 }
                    return bind(fd, base.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
                }
            }
            var r = bindAgain()
            if r != 0 && errno == EADDRINUSE && s.type == SOCK_STREAM.rawValue && dropTimeWait(on: s.address) > 0 {
                r = bindAgain()
            }
            guard r == 0 else {
                let options = early.isEmpty ? "" : " (options not set: \(early.joined(separator: ", ")))"
                throw CheckpointError(errno: errno, "fd \(f.fd): cannot bind \(describe(s.address)) again\(options)")
            }
        }
        var connecting: String?
        if s.listening {
            _ = try valueOrThrow("listen(\(describe(s.address)))") { listen(fd, Int32(clamping: s.backlog == 0 ? 128 : s.backlog)) }
        } else if s.peerAddress.count >= MemoryLayout<sockaddr_in>.size {
            // A TCP connect that was in progress starts again (its first SYN
            // went with the original) without waiting here; the socket's own
            // flags follow, and a program blocked in connect() waits again.
            let stream = s.type == SOCK_STREAM.rawValue
            if stream { _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
            let r = s.peerAddress.withUnsafeBytes { a -> Int32 in
                guard let base = a.baseAddress else { return -1 }
                return connect(fd, base.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
            }
            if stream && r != 0 && errno != EINPROGRESS {
                connecting = "fd \(f.fd): the connect to \(describe(s.peerAddress)) in progress could not start again (\(errorText(errno)))"
            }
        }
        queueUDP(f, s, into: fd)
        // After connect, which a shut socket may not do. (An unconnected
        // datagram socket says ENOTCONN, yet is marked all the same.)
        if s.shutdown & 1 != 0 { _ = Glibc.shutdown(fd, Int32(SHUT_RD)) }
        if s.shutdown & 2 != 0 { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }
        if let connecting { return .socketWithWarning(fd, connecting) }
        return .socket(fd)
    }
}
