import CheckpointImage
import Glibc
import LinuxKit

/// Describes the sockets of one process. A socket cannot be reopened through
/// /proc, so pidfd_getfd lends us the socket itself: its options, names and
/// queued data are read from our side, the queue by MSG_PEEK with
/// SO_PEEK_OFF stepping through it without taking anything out.
final class SocketCollector {
    let pid: pid_t
    let shared: SharedContentCapture
    private var pidfd: Int32 = -1

    init(pid: pid_t, shared: SharedContentCapture) {
        self.pid = pid
        self.shared = shared
    }

    deinit { if pidfd >= 0 { close(pidfd) } }

    /// Fills in the socket fields of `state`; returns a warning when the socket cannot be saved.
    func describe(_ state: inout FileDescriptorState, inode: UInt64, device: UInt64) throws -> String? {
        let copy = try borrow(state.fd)
        defer { close(copy) }
        let family = option(copy, SO_DOMAIN)
        switch family {
        case AF_UNIX:
            guard let info = try shared.unixSockets()[inode] else {
                return "fd \(state.fd) (\(state.path)): the kernel does not list this UNIX socket; it will be closed after restart"
            }
            state.kind = .unixSocket
            state.address = info.name
            let backlog = info.state == 10 ? UInt64(info.sendQueue) : 0
            state.values = [UInt64(info.type), UInt64(info.state), info.peer, UInt64(info.shutdown),
                            UInt64(option(copy, SO_SNDBUF)), UInt64(option(copy, SO_RCVBUF)), backlog]
            if info.type == SOCK_DGRAM.rawValue && info.peer != 0 {
                state.peerAddress = try shared.unixSockets()[info.peer]?.name ?? []  // reconnected by name if not a pair
            }
            var warning: String?
            if info.state == 10 && info.receiveQueue > 0 {
                warning = "fd \(state.fd): \(info.receiveQueue) connection(s) not yet accepted on a listening UNIX socket are lost"
            }
            if info.state != 10, shared.firstSight(device: device, inode: inode) {
                let (messages, note) = try peekQueue(copy, stream: info.type == SOCK_STREAM.rawValue,
                                                     seqpacketBytes: info.type == SOCK_SEQPACKET.rawValue ? Int(info.receiveQueue) : nil)
                state.queued = messages
                warning = note.map { "fd \(state.fd): \($0)" } ?? warning
            }
            return warning
        case AF_INET, AF_INET6:
            return try describeInet(&state, copy: copy, family: family)
        default:
            return "fd \(state.fd) (\(state.path)): sockets of family \(family) are not saved; it will be closed after restart"
        }
    }

    private func describeInet(_ state: inout FileDescriptorState, copy: Int32, family: Int32) throws -> String? {
        let type = option(copy, SO_TYPE), proto = option(copy, SO_PROTOCOL)
        let listening = option(copy, SO_ACCEPTCONN) == 1
        let local = name(copy, getsockname), peer = name(copy, getpeername)
        if type == SOCK_STREAM.rawValue && !listening && !peer.isEmpty {
            guard let saved = try TCPRepair.capture(copy, family: family) else {
                // Its ends only: closed after restart, or a closed socket with cr_restart --tcp-close.
                state.kind = .tcpConnection
                state.address = local
                state.peerAddress = peer
                state.values = [UInt64(family)] + [UInt64](repeating: 0, count: TCPRepair.Field.allCases.count - 1)
                return "fd \(state.fd): TCP connection to \(SocketAddress.describe(peer)) not saved: TCP_REPAIR needs CAP_NET_ADMIN; it will be closed after restart"
            }
            shared.inRepair(dup(copy))
            state.kind = .tcpConnection
            state.address = local
            state.peerAddress = peer
            state.values = saved.values
            state.queued = saved.queues
            return nil
        }
        guard type == SOCK_STREAM.rawValue || type == SOCK_DGRAM.rawValue else {
            return "fd \(state.fd): inet sockets of type \(type) are not saved; it will be closed after restart"
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
        state.address = local
        state.peerAddress = peer
        state.values = [UInt64(family), UInt64(type), UInt64(proto), listening ? 1 : 0, backlog]
        if type == SOCK_DGRAM.rawValue {
            // A datagram cannot be sent again from its original sender. The
            // peek moves an enabled SO_PEEK_OFF, so it is put back.
            var probe: UInt8 = 0, offset = option(copy, SO_PEEK_OFF)
            let waiting = recv(copy, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) >= 0
            if offset >= 0 { _ = setsockopt(copy, SOL_SOCKET, SO_PEEK_OFF, &offset, 4) }
            if waiting { return "fd \(state.fd): datagrams waiting in UDP socket \(SocketAddress.describe(local)) are not saved" }
        }
        return nil
    }

    /// A descriptor of ours for the target's socket (same open file).
    private func borrow(_ fd: Int32) throws -> Int32 {
        if pidfd < 0 { pidfd = Int32(try rawSyscall("pidfd_open(\(pid))", NR.pidfd_open, Int(pid), 0)) }
        return Int32(try rawSyscall("pidfd_getfd(\(pid), \(fd))", NR.pidfd_getfd, Int(pidfd), Int(fd), 0))
    }

    private func option(_ fd: Int32, _ name: Int32) -> Int32 {
        var v: Int32 = -1
        var length = socklen_t(4)
        return getsockopt(fd, SOL_SOCKET, name, &v, &length) == 0 ? v : -1
    }

    private func name(_ fd: Int32, _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> [UInt8] {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, &length) } }
        guard r == 0 else { return [] }
        return withUnsafeBytes(of: storage) { Array($0.prefix(Int(length))) }
    }

    /// Limit on the bytes saved from one socket's receive queue.
    static let queueLimit = 64 << 20

    /// The messages in the receive queue, read with MSG_PEEK from offset 0
    /// on; SO_PEEK_OFF is put back as it was. Stream data comes as one chunk.
    /// `seqpacketBytes`: the bytes sock_diag counts in a seqpacket queue, so
    /// that an empty read past them is the closed peer's EOF, not a message.
    private func peekQueue(_ fd: Int32, stream: Bool, seqpacketBytes: Int? = nil) throws -> ([[UInt8]], String?) {
        var saved: Int32 = -1
        var length = socklen_t(4)
        _ = getsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &saved, &length)
        var zero: Int32 = 0
        guard setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, 4) == 0 else {
            return ([], "this socket's queue cannot be peeked (SO_PEEK_OFF); its unread data is lost")
        }
        defer { _ = setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &saved, 4) }
        var messages: [[UInt8]] = []
        var note: String?
        var buffer = [UInt8](repeating: 0, count: 1 << 18)
        var control = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while total < Self.queueLimit {
            var flags: Int32 = 0
            let n = buffer.withUnsafeMutableBytes { data in
                control.withUnsafeMutableBytes { ctl in
                    var iov = iovec(iov_base: data.baseAddress, iov_len: data.count)
                    return withUnsafeMutablePointer(to: &iov) { iovp -> Int in
                        var msg = msghdr()
                        msg.msg_iov = iovp
                        msg.msg_iovlen = 1
                        msg.msg_control = ctl.baseAddress
                        msg.msg_controllen = ctl.count
                        let r = recvmsg(fd, &msg, Int32(MSG_PEEK | MSG_DONTWAIT) | Int32(MSG_CMSG_CLOEXEC))
                        flags = msg.msg_flags
                        if r >= 0 { Self.closePassedDescriptors(msg) }
                        return r
                    }
                }
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }
                throw CheckpointError(errno, "peeking socket queue: \(String(cString: strerror(errno)))")
            }
            if flags & Int32(MSG_TRUNC) != 0 { note = "a queued datagram larger than 256 KiB was cut short" }
            if flags & Int32(MSG_CTRUNC) != 0 || control.contains(where: { $0 != 0 }) {
                note = "descriptors in flight (SCM_RIGHTS) in a socket queue are not saved"
                control = [UInt8](repeating: 0, count: control.count)
            }
            if n == 0 {
                // Stream: end of data (peer shut down). Datagram: an empty message, which does not move the peek offset.
                if !stream, total < (seqpacketBytes ?? Int.max) {
                    messages.append([])
                    note = note ?? "datagrams queued after an empty one are not saved"
                }
                break
            }
            if stream, !messages.isEmpty { messages[0] += buffer[0..<n] } else { messages.append(Array(buffer[0..<n])) }
            total += n
        }
        return (messages, note)
    }

    /// Descriptors a peek received along with the data are ours to close.
    private static func closePassedDescriptors(_ msg: msghdr) {
        guard msg.msg_controllen >= MemoryLayout<cmsghdr>.size, let base = msg.msg_control else { return }
        var at = 0
        while at + MemoryLayout<cmsghdr>.size <= msg.msg_controllen {
            let header = base.load(fromByteOffset: at, as: cmsghdr.self)
            guard header.cmsg_len >= MemoryLayout<cmsghdr>.size else { break }
            if header.cmsg_level == SOL_SOCKET && header.cmsg_type == Int32(SCM_RIGHTS) {
                let count = (Int(header.cmsg_len) - MemoryLayout<cmsghdr>.size) / 4
                for k in 0..<count { close(base.load(fromByteOffset: at + MemoryLayout<cmsghdr>.size + 4 * k, as: Int32.self)) }
            }
            at += (Int(header.cmsg_len) + 7) & ~7
        }
    }
}
