import CheckpointImage
import Glibc
import LinuxKit

/// The restorer makes every saved socket itself, once per socket however
/// many processes share it, and hands it to the stubs (FDCourier):
/// - a UNIX socket whose peer is in the image becomes one end of a new
///   socketpair, with each side's queued messages sent again by the other;
/// - listening and bound sockets (UNIX, TCP, UDP) are bound to their
///   address again and listen with their backlog;
/// - a datagram socket connected to one that is not its pair (a server, in
///   the image or outside it) connects to that socket's name again, and a
///   bound one gets its waiting messages back by name.
/// A connected UNIX socket pair keeps its data but not its bound names.
final class SocketFactory {
    private var made: [UInt64: Int32] = [:]
    private let byInode: [UInt64: FileDescriptorState]
    private let cwdOf: [UInt64: String]

    /// cr_restart --tcp-close: established connections come back as closed sockets.
    let closeTCP: Bool

    init(processes: [ProcessState], closeTCP: Bool = false) {
        self.closeTCP = closeTCP
        var records: [UInt64: FileDescriptorState] = [:], cwd: [UInt64: String] = [:]
        for p in processes {
            for f in p.files where [.unixSocket, .inetSocket, .tcpConnection].contains(f.kind) {
                if records[f.inode] == nil || !f.queued.isEmpty { records[f.inode] = f }
                cwd[f.inode] = p.cwd
            }
        }
        byInode = records
        cwdOf = cwd
    }

    enum Made { case socket(Int32), socketWithWarning(Int32, String), closed(String) }

    /// A connected UNIX socket whose peer the image does not hold (and, for
    /// a datagram socket, has no name to connect to again).
    func peerIsOutside(_ f: FileDescriptorState) -> Bool {
        guard let saved = byInode[f.inode], saved.values.count > 2 else { return false }
        return saved.values[2] != 0 && byInode[saved.values[2]] == nil && saved.peerAddress.isEmpty
    }

    /// Our descriptor for the socket behind `f`, or why it stays closed.
    func socket(for f: FileDescriptorState) throws -> Made {
        var result: Made
        if let fd = made[f.inode] {
            result = .socket(fd)
        } else {
            guard let saved = byInode[f.inode] else { return .closed("fd \(f.fd): socket record missing") }
            switch saved.kind {
            case .unixSocket: result = try makeUnix(saved)
            case .tcpConnection: result = try makeTCP(saved)
            default: result = try makeInet(saved)
            }
        }
        // Status flags belong to the open file: the one this descriptor had.
        switch result {
        case .socket(let fd), .socketWithWarning(let fd, _): _ = fcntl(fd, F_SETFL, Int32(bitPattern: f.flags) & (O_NONBLOCK | O_ASYNC))
        case .closed: break
        }
        return result
    }

    private func remember(_ inode: UInt64, _ fd: Int32) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        made[inode] = fd
    }

    private func makeUnix(_ s: FileDescriptorState) throws -> Made {
        let (type, state, peer) = (Int32(s.values[0]), s.values[1], s.values[2])
        if peer != 0, let other = byInode[peer], other.kind == .unixSocket, other.values[2] == s.inode {
            var pair: [Int32] = [0, 0]
            _ = try valueOrThrow("socketpair") { socketpair(AF_UNIX, type, 0, &pair) }
            remember(s.inode, pair[0])
            remember(other.inode, pair[1])
            // What waited in one end's queue is sent again by the other end;
            // shutdowns come last, since they would stop those sends.
            try refill(from: pair[1], s)
            try refill(from: pair[0], other)
            for (fd, rec) in [(pair[0], s), (pair[1], other)] {
                setBuffers(fd, rec)
                if rec.values[3] & 1 != 0 { Glibc.shutdown(fd, Int32(SHUT_RD)) }
                if rec.values[3] & 2 != 0 { Glibc.shutdown(fd, Int32(SHUT_WR)) }
            }
            return .socket(pair[0])
        }
        if peer != 0 && type != SOCK_DGRAM.rawValue {
            return .closed("fd \(s.fd) (\(s.path)): its peer is outside the checkpoint; the connection is closed after restart")
        }
        if peer == 0 && state == 1 && type != SOCK_DGRAM.rawValue {
            // Connected, but the peer has closed: a pair whose other end sends
            // what was left unread and closes, so reads end in EOF as before.
            var pair: [Int32] = [0, 0]
            _ = try valueOrThrow("socketpair") { socketpair(AF_UNIX, type, 0, &pair) }
            defer { Glibc.close(pair[1]) }
            remember(s.inode, pair[0])
            setBuffers(pair[0], s)
            try refill(from: pair[1], s)
            return .socket(pair[0])
        }
        let fd = try valueOrThrow("socket(AF_UNIX)") { Glibc.socket(AF_UNIX, type, 0) }
        remember(s.inode, fd)
        setBuffers(fd, s)
        if !s.address.isEmpty { try bindUnix(fd, s) }
        if state == 10 { _ = try valueOrThrow("listen(\(describe(s.address)))") { listen(fd, Int32(clamping: max(s.values[6], 1))) } }
        var warnings: [String] = []
        if state != 10 && !s.queued.isEmpty {
            // Only a datagram socket can be sent to by name; a stream's peer is gone with its data.
            let why = type == SOCK_DGRAM.rawValue ? try requeue(s) : "fd \(s.fd): \(s.queued.count) message(s) from a peer that is gone are lost"
            if let why { warnings.append(why) }
        }
        if peer != 0 {
            // The peer in the image is made (and bound) first, so its name can be reached.
            if let other = byInode[peer], made[peer] == nil, other.kind == .unixSocket { _ = try socket(for: other) }
            if let why = connectUnix(fd, s) { warnings.append(why) }
        }
        return warnings.isEmpty ? .socket(fd) : .socketWithWarning(fd, warnings.joined(separator: "; "))
    }

    /// A bound datagram socket's waiting messages, sent to its name again
    /// from a socket of ours; who sent them originally is not kept.
    private func requeue(_ s: FileDescriptorState) throws -> String? {
        guard let (addr, length) = unixAddress(s.address, cwd: cwdOf[s.inode]) else {
            return "fd \(s.fd): \(s.queued.count) message(s) from a peer that is gone wait in an unnamed socket; they are lost"
        }
        let sender = try valueOrThrow("socket(AF_UNIX)") { Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { Glibc.close(sender) }
        var a = addr
        for m in s.queued {
            let n = withUnsafePointer(to: &a) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { to in
                    m.withUnsafeBytes { sendto(sender, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), to, length) }
                }
            }
            guard n == m.count else {
                let err = n < 0 ? errno : EIO
                throw CheckpointError(err, "fd \(s.fd): cannot queue its \(m.count)-byte message again at \(describe(s.address)): \(String(cString: strerror(err)))")
            }
        }
        return nil
    }

    /// Connects a datagram socket to its peer's name; why not, if it cannot.
    private func connectUnix(_ fd: Int32, _ s: FileDescriptorState) -> String? {
        guard let (peer, length) = unixAddress(s.peerAddress, cwd: cwdOf[s.inode]) else {
            return "fd \(s.fd): a datagram socket connected to an unnamed socket outside the checkpoint comes back unconnected"
        }
        var addr = peer
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        guard r != 0 else { return nil }
        return "fd \(s.fd): cannot connect to \(describe(s.peerAddress)) again (\(String(cString: strerror(errno)))); the socket comes back unconnected"
    }

    /// Sends `saved`'s queued messages through its peer, `sender`, so they wait for it again.
    private func refill(from sender: Int32, _ saved: FileDescriptorState) throws {
        guard !saved.queued.isEmpty else { return }
        var size = Int32(clamping: saved.queued.reduce(0) { $0 + $1.count + 1024 })
        _ = setsockopt(sender, SOL_SOCKET, SO_SNDBUF, &size, 4)
        for m in saved.queued {
            let n = m.withUnsafeBytes { send(sender, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            guard n == m.count else {
                let why = n < 0 ? String(cString: strerror(errno)) : "only \(n) went in"
                throw CheckpointError(n < 0 ? errno : EIO, "fd \(saved.fd): cannot queue its \(m.count) saved bytes again: \(why)")
            }
        }
    }

    /// The kernel reports doubled buffer sizes and doubles what is set: halve them back.
    private func setBuffers(_ fd: Int32, _ s: FileDescriptorState) {
        var snd = Int32(clamping: s.values[4] / 2), rcv = Int32(clamping: s.values[5] / 2)
        if snd > 0 { _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, 4) }
        if rcv > 0 { _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, 4) }
    }

    /// Binds a UNIX name again. A socket file left by the killed original is
    /// removed first, but only if no live socket holds it any more.
    private func bindUnix(_ fd: Int32, _ s: FileDescriptorState) throws {
        guard let (bound, length) = unixAddress(s.address, cwd: cwdOf[s.inode]) else {
            throw CheckpointError(ENAMETOOLONG, "fd \(s.fd): socket name \(describe(s.address)) is too long to bind")
        }
        var addr = bound
        func bindOnce() -> Int32 { withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } } }
        if bindOnce() == 0 { return }
        var err = errno
        let name = s.address.prefix { $0 != 0 }
        if err == EADDRINUSE && s.address.first != 0 && !Self.someoneUses(addr, length, type: Int32(s.values[0])) {
            let path = String(decoding: withUnsafeBytes(of: addr.sun_path) { Array($0.prefix { $0 != 0 }) }, as: UTF8.self)
            var st = stat()
            if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK && unlink(path) == 0 && bindOnce() == 0 { return }
            err = errno
        }
        throw CheckpointError(err, "fd \(s.fd): cannot bind UNIX socket \(describe(Array(name))) again: \(String(cString: strerror(err)))")
    }

    /// A UNIX name as a sockaddr: a relative path joins `cwd`; nil if empty or too long.
    private func unixAddress(_ bound: [UInt8], cwd: String?) -> (sockaddr_un, socklen_t)? {
        guard !bound.isEmpty else { return nil }
        var name = bound
        if name.first != 0, name.first != UInt8(ascii: "/"), let cwd { name = Array(cwd.utf8) + [UInt8(ascii: "/")] + name }
        while name.last == 0 && name.first != 0 { name.removeLast() }
        guard !name.isEmpty, name.count < 108 else { return nil }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { for (k, b) in name.enumerated() { $0[k] = b } }
        return (addr, socklen_t(MemoryLayout<sa_family_t>.size + name.count))
    }

    /// True if a live socket of this type holds the name: a connect to a
    /// socket file left by a dead process is refused.
    private static func someoneUses(_ addr: sockaddr_un, _ length: socklen_t, type: Int32) -> Bool {
        let probe = Glibc.socket(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return true }
        defer { Glibc.close(probe) }
        var a = addr
        let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) } }
        return r == 0 || errno != ECONNREFUSED
    }

    /// As root, the connection itself; without CAP_NET_ADMIN it stays closed, as BLCR closed sockets.
    private func makeTCP(_ s: FileDescriptorState) throws -> Made {
        let lost = "fd \(s.fd): TCP connection \(SocketAddress.describe(s.address)) -> \(SocketAddress.describe(s.peerAddress))"
        if closeTCP || s.queued.isEmpty {
            guard closeTCP else { return .closed("\(lost) was not saved (no CAP_NET_ADMIN at the checkpoint); closed") }
            // --tcp-close: the descriptor stays, as a socket whose connection is gone (reads see EOF-like errors, writes EPIPE).
            let fd = try valueOrThrow("socket(TCP)") { Glibc.socket(Int32(s.values[0]), Int32(SOCK_STREAM.rawValue), Int32(IPPROTO_TCP)) }
            remember(s.inode, fd)
            return .socket(fd)
        }
        do {
            let fd = try TCPRepair.rebuild(s)
            remember(s.inode, fd)
            return .socket(fd)
        } catch let e as CheckpointError where e.code == EPERM {
            return .closed(e.message)
        }
    }

    private func makeInet(_ s: FileDescriptorState) throws -> Made {
        let (family, type, proto, listening, backlog) = (Int32(s.values[0]), Int32(s.values[1]), Int32(s.values[2]), s.values[3] == 1, s.values[4])
        let fd = try valueOrThrow("socket(\(family))") { Glibc.socket(family, type, proto) }
        remember(s.inode, fd)
        var one: Int32 = 1
        if listening { _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4) }
        if s.address.count >= MemoryLayout<sockaddr_in>.size {
            let r = s.address.withUnsafeBytes { a -> Int32 in
                guard let base = a.baseAddress else { return -1 }
                return bind(fd, base.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
            }
            guard r == 0 else {
                throw CheckpointError(errno, "fd \(s.fd): cannot bind \(describe(s.address)) again: \(String(cString: strerror(errno)))")
            }
        }
        if listening {
            _ = try valueOrThrow("listen(\(describe(s.address)))") { listen(fd, Int32(clamping: backlog == 0 ? 128 : backlog)) }
        } else if s.peerAddress.count >= MemoryLayout<sockaddr_in>.size {
            _ = s.peerAddress.withUnsafeBytes { a -> Int32 in
                guard let base = a.baseAddress else { return -1 }
                return connect(fd, base.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
            }
        }
        return .socket(fd)
    }

    /// A socket address for messages: a path, @abstract, or ip:port.
    func describe(_ a: [UInt8]) -> String { SocketAddress.describe(a) }

    func close() {
        for fd in made.values { Glibc.close(fd) }
        made.removeAll()
    }
}
