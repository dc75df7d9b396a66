import CheckpointImage
import Glibc
import LinuxKit

/// UNIX sockets made again by the restorer: a pair in the image becomes a
/// socketpair with each side's queue sent again by the other; a named one
/// is bound again (a stale socket file of the killed original removed); a
/// connected datagram socket connects to its peer's name again.
extension SocketFactory {
    func makeUnix(_ f: FileDescriptorState, _ s: UnixSocketRecord) throws -> Made {
        let (type, state, peer) = (Int32(truncatingIfNeeded: s.type), s.state, s.peer)
        // (A datagram socket connected to its own name is its own peer: not a pair.)
        if peer != 0, peer != f.inode, let other = byInode[peer], let o = other.unixSocket, o.peer == f.inode {
            var pair: [Int32] = [0, 0]
            _ = try valueOrThrow("socketpair") { asOwner(of: f.inode) { socketpair(AF_UNIX, type, 0, &pair) } }
            remember(f.inode, pair[0])
            remember(other.inode, pair[1])
            // Either end of a datagram pair may also have been bound to a name.
            // (A stream end's name may be its listener's, which accept() gave it.)
            if type == SOCK_DGRAM.rawValue {
                for (fd, saved, rec) in [(pair[0], f, s), (pair[1], other, o)] where !rec.address.isEmpty { try bindUnix(fd, saved, rec) }
            }
            // What waited in one end's queue is sent again by the other end;
            // shutdowns come last, since they would stop those sends.
            for (fd, rec) in [(pair[0], s), (pair[1], o)] { setBuffers(fd, rec) }
            try whenFilesExist(s, o) {
                try self.refill(from: pair[1], f, s)
                try self.refill(from: pair[0], other, o)
                for (fd, rec) in [(pair[0], s), (pair[1], o)] {
                    if rec.shutdown & 1 != 0 { Glibc.shutdown(fd, Int32(SHUT_RD)) }
                    if rec.shutdown & 2 != 0 { Glibc.shutdown(fd, Int32(SHUT_WR)) }
                }
                return nil
            }
            return .socket(pair[0])
        }
        if s.pendingOn != 0, let listener = byInode[s.pendingOn], let l = listener.unixSocket {
            // Connected again to the listener, which then has it to accept.
            if !isMade(s.pendingOn) { _ = try socket(for: listener) }
            let fd = try valueOrThrow("socket(AF_UNIX)") { ownedSocket(of: f.inode, AF_UNIX, type, 0) }
            remember(f.inode, fd)
            setBuffers(fd, s)
            var waiting = s
            waiting.peerAddress = l.address
            if let why = connectUnix(fd, f, waiting) { return .socketWithWarning(fd, why) }
            return .socket(fd)
        }
        if peer != 0 && type != SOCK_DGRAM.rawValue {
            // The peer cannot come back: the connection does, ended by its
            // peer. An empty descriptor number would be taken by the next
            // accept or open, and the program would treat that file as the
            // old connection (dbus-daemon stopped answering so); a hang-up
            // it handles as any client leaving.
            return .socketWithWarning(try endedConnection(f, s), "fd \(f.fd) (\(f.path)): its peer is outside the checkpoint; it comes back as a connection its peer has closed")
        }
        if peer == 0 && state == 1 && (type != SOCK_DGRAM.rawValue || (s.address.isEmpty && !s.queued.isEmpty)) {
            // Connected, but the peer has closed (a datagram socket gets its
            // messages, still connected to nobody).
            return .socket(try endedConnection(f, s))
        }
        let fd = try valueOrThrow("socket(AF_UNIX)") { ownedSocket(of: f.inode, AF_UNIX, type, 0) }
        remember(f.inode, fd)
        setBuffers(fd, s)
        if !s.address.isEmpty { try bindUnix(fd, f, s) }
        if state == UnixSocketRecord.listening {
            _ = try valueOrThrow("listen(\(describe(s.address)))") { asOwner(of: f.inode) { listen(fd, Int32(clamping: max(s.backlog, 1))) } }
        }
        var warnings: [String] = []
        if state != UnixSocketRecord.listening && !s.queued.isEmpty {
            // Only a datagram socket can be sent to by name; a stream's peer is gone with its data.
            let why = type == SOCK_DGRAM.rawValue ? try requeue(f, s) : "fd \(f.fd): \(s.queued.count) message(s) from a peer that is gone are lost"
            if let why { warnings.append(why) }
        }
        if peer != 0 {
            // The peer in the image is made (and bound) first, so its name can be reached.
            if let other = byInode[peer], !isMade(peer), other.kind == .unixSocket { _ = try socket(for: other) }
            if let why = connectUnix(fd, f, s) { warnings.append(why) }
        }
        return warnings.isEmpty ? .socket(fd) : .socketWithWarning(fd, warnings.joined(separator: "; "))
    }

    /// A connection whose peer has gone: a pair whose other end sends what
    /// was left unread and closes, so reads end in EOF after those bytes,
    /// writes fail with EPIPE, and poll says hung up, as before.
    private func endedConnection(_ f: FileDescriptorState, _ s: UnixSocketRecord) throws -> Int32 {
        var pair: [Int32] = [0, 0]
        _ = try valueOrThrow("socketpair") { asOwner(of: f.inode) { socketpair(AF_UNIX, Int32(truncatingIfNeeded: s.type), 0, &pair) } }
        remember(f.inode, pair[0])
        setBuffers(pair[0], s)
        do {
            try whenFilesExist(s) {
                defer { Glibc.close(pair[1]) }
                try self.refill(from: pair[1], f, s)
                return nil
            }
        } catch {
            Glibc.close(pair[1])
            throw error
        }
        return pair[0]
    }

    /// A bound datagram socket's waiting messages, sent to its name again,
    /// each from a socket with the name its sender had (UnixSenders), or
    /// from an unnamed one of ours.
    func requeue(_ f: FileDescriptorState, _ s: UnixSocketRecord) throws -> String? {
        guard let (addr, length) = unixAddress(s.address, cwd: cwdOf[f.inode]) else {
            return "fd \(f.fd): \(s.queued.count) message(s) from a peer that is gone wait in an unnamed socket; they are lost"
        }
        return try whenFilesExist(s) {
            let sender = try valueOrThrow("socket(AF_UNIX)") { Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
            defer { Glibc.close(sender) }
            let named = UnixSenders(factory: self, receiver: f)
            defer { named.close() }
            let byMessage = Dictionary(s.senders.map { ($0.message, $0.address) }, uniquingKeysWith: { a, _ in a })
            try self.send(s, of: f, from: { k in try byMessage[k].flatMap { try named.socket(named: $0) } ?? sender }, to: (addr, length))
            return named.unnamed.isEmpty ? nil : "fd \(f.fd): queued datagrams from \(named.unnamed.sorted().joined(separator: ", ")) come from an unnamed socket (that name could not be bound again)"
        }
    }

    /// Runs `fill` now, or, when a queue carries descriptors in flight, once
    /// every process's files (those descriptors among them) exist. What it
    /// warns of is returned now, or then with the restart's other warnings.
    @discardableResult
    func whenFilesExist(_ records: UnixSocketRecord..., fill: @escaping () throws -> String?) throws -> String? {
        if records.contains(where: { !$0.passed.isEmpty }) { deferredRefills.append(fill); return nil }
        return try fill()
    }

    /// Sends `saved`'s queued messages from `sender` (to `address`, or its
    /// peer), each with the descriptors that were in flight with it.
    func send(_ saved: UnixSocketRecord, of f: FileDescriptorState, from sender: Int32, to address: (sockaddr_un, socklen_t)? = nil) throws {
        try send(saved, of: f, from: { _ in sender }, to: address)
    }

    /// As above, each message from the socket `sender` gives for its index.
    func send(_ saved: UnixSocketRecord, of f: FileDescriptorState, from sender: (Int) throws -> Int32, to address: (sockaddr_un, socklen_t)? = nil) throws {
        let owner = UInt64(ownerOf[f.inode] ?? 0)
        let attached = Dictionary(saved.passed.map { ($0.message, $0.fds) }, uniquingKeysWith: { a, _ in a })
        for (k, m) in saved.queued.enumerated() {
            var fds: [Int32] = []
            for number in attached[k] ?? [] {
                guard let ours = inFlight[[owner, UInt64(number)]] else {
                    throw CheckpointError(EBADF, "fd \(f.fd): the file in flight as number \(number) of process \(owner) was not made again")
                }
                fds.append(ours)
            }
            let name = address.map { a in withUnsafeBytes(of: a.0) { Array($0.prefix(Int(a.1))) } }
            let n = UnixMessage.send(m, descriptors: fds, from: try sender(k), name: name, flags: Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            guard n == m.count else {
                let why = n < 0 ? errorText(errno) : "only \(n) went in"
                let at = address.map { " at " + describe(Array(withUnsafeBytes(of: $0.0.sun_path) { $0.prefix { $0 != 0 } })) } ?? ""
                throw CheckpointError(n < 0 ? errno : EIO, "fd \(f.fd): cannot queue its \(m.count)-byte message again\(at): \(why)")
            }
        }
    }

    /// Connects a datagram socket to its peer's name; why not, if it cannot.
    func connectUnix(_ fd: Int32, _ f: FileDescriptorState, _ s: UnixSocketRecord) -> String? {
        guard let (peer, length) = unixAddress(s.peerAddress, cwd: cwdOf[f.inode]) else {
            return "fd \(f.fd): a datagram socket connected to an unnamed socket outside the checkpoint comes back unconnected"
        }
        var addr = peer
        let e = inNamespace(of: f.inode) { withUnsafePointer(to: &addr) { Syscall.raw(NR.connect, Int(fd), Int(bitPattern: $0), Int(length)) } }
        guard e != 0 else { return nil }
        return "fd \(f.fd): cannot connect to \(describe(s.peerAddress)) again (\(errorText(e))); the socket comes back unconnected"
    }

    /// Sends `saved`'s queued messages through its peer, `sender`, so they wait for it again.
    func refill(from sender: Int32, _ f: FileDescriptorState, _ saved: UnixSocketRecord) throws {
        guard !saved.queued.isEmpty else { return }
        var size = Int32(clamping: saved.queued.reduce(0) { $0 + $1.count + 1024 })
        _ = setsockopt(sender, SOL_SOCKET, SO_SNDBUF, &size, 4)
        try send(saved, of: f, from: sender)
    }

    /// The kernel reports doubled buffer sizes and doubles what is set: halve them back.
    func setBuffers(_ fd: Int32, _ s: UnixSocketRecord) {
        var snd = Int32(clamping: s.sendBuffer / 2), rcv = Int32(clamping: s.receiveBuffer / 2)
        if snd > 0 { _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, 4) }
        if rcv > 0 { _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, 4) }
    }

    /// Binds a UNIX name again. A socket file left by the killed original is
    /// removed first, but only if no live socket holds it any more.
    func bindUnix(_ fd: Int32, _ f: FileDescriptorState, _ s: UnixSocketRecord) throws {
        guard let (bound, length) = unixAddress(s.address, cwd: cwdOf[f.inode]) else {
            throw CheckpointError(ENAMETOOLONG, "fd \(f.fd): socket name \(describe(s.address)) is too long to bind")
        }
        var addr = bound
        // Bound where the socket's process resolves paths (its mount namespace).
        func bindOnce() -> Int32 {
            let e = inNamespace(of: f.inode) { withUnsafePointer(to: &addr) { Syscall.raw(NR.bind, Int(fd), Int(bitPattern: $0), Int(length)) } }
            if e != 0 { errno = e }
            return e == 0 ? 0 : -1
        }
        let named = String(decoding: withUnsafeBytes(of: addr.sun_path) { Array($0.prefix { $0 != 0 }) }, as: UTF8.self)
        let path = reachable(named, of: f.inode)
        if s.nameGone && s.address.first != 0 {
            // The name, without its file: whatever holds the path now steps
            // aside while it binds and the image's sockets connected to it by
            // name connect again, then comes back.
            defer { detachedNames.finish() }
            try detachedNames.bind(path) { bindOnce() == 0 ? nil : errno }
            for other in byInode.values where other.unixSocket?.peer == f.inode && other.inode != f.inode && !isMade(other.inode) {
                _ = try socket(for: other)
            }
            return
        }
        defer {
            if let mode = s.fileMode { _ = chmod(path, mode_t(mode)) }
            if s.fileOwner.count == 2 { _ = lchown(path, uid_t(s.fileOwner[0]), gid_t(s.fileOwner[1])) }
        }
        if bindOnce() == 0 { return }
        var err = errno
        if err == EADDRINUSE && s.address.first == 0 && Self.collectedLoops(retry: { bindOnce() == 0 ? nil : errno }) { return }
        let name = s.address.prefix { $0 != 0 }
        if err == EADDRINUSE && s.address.first != 0 && !Self.someoneUses(addr, length, type: Int32(truncatingIfNeeded: s.type)) {
            var st = stat()
            if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK && unlink(path) == 0 && bindOnce() == 0 { return }
            err = errno
        }
        throw CheckpointError(errno: err, "fd \(f.fd): cannot bind UNIX socket \(describe(Array(name))) again")
    }

    /// A UNIX name as a sockaddr: a relative path joins `cwd`; nil if empty or too long.
    func unixAddress(_ bound: [UInt8], cwd: String?) -> (sockaddr_un, socklen_t)? {
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

    /// The killed original's sockets that were in flight in their own
    /// queues (a loop only the kernel's garbage collector frees) may still
    /// hold their abstract names for a moment: closing a UNIX socket
    /// schedules that collector. Retries `bind` for up to a second; true
    /// once it succeeds.
    static func collectedLoops(retry bind: () -> Int32?) -> Bool {
        for _ in 0..<100 {
            let s = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if s >= 0 { Glibc.close(s) }
            usleep(10_000)
            guard let e = bind() else { return true }
            if e != EADDRINUSE { return false }
        }
        return false
    }

    /// True if a live socket of this type holds the name: a connect to a
    /// socket file left by a dead process is refused.
    static func someoneUses(_ addr: sockaddr_un, _ length: socklen_t, type: Int32) -> Bool {
        let probe = Glibc.socket(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return true }
        defer { Glibc.close(probe) }
        var a = addr
        let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) } }
        return r == 0 || errno != ECONNREFUSED
    }

}
