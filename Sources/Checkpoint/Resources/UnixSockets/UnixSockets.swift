import CheckpointImage
import Glibc
import LinuxKit

/// UNIX sockets: type, state, peer and buffers from sock_diag and the
/// socket's options; the receive queue read with MSG_PEEK, SO_PEEK_OFF
/// stepping through it without taking anything out. At restart a pair in
/// the image becomes a socketpair, a named socket is bound again (see
/// UnixSocketMaker).
enum UnixSockets: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.unixSocket]
    static var followsForkSharing: Bool { false }

    /// Claimed through `Sockets`, which knows the family.
    static func claims(_ d: OpenDescriptor) -> Bool { false }
    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {}

    static func describe(_ d: OpenDescriptor, copy: Int32, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        let table = try context.shared.unixSockets.all()
        guard let info = table[d.inode] else {
            context.warn("fd \(d.fd) (\(d.link)): the kernel does not list this UNIX socket; it will be closed after restart")
            return
        }
        state.kind = .unixSocket
        var warning: String?
        let listening = UInt64(info.state) == UnixSocketRecord.listening
        var record = UnixSocketRecord(
            type: UInt64(info.type), state: UInt64(info.state), peer: info.peer, shutdown: UInt64(info.shutdown),
            sendBuffer: UInt64(SocketBorrower.option(copy, SO_SNDBUF)), receiveBuffer: UInt64(SocketBorrower.option(copy, SO_RCVBUF)),
            backlog: listening ? UInt64(info.sendQueue) : 0, address: info.name)
        if let first = info.name.first, first != 0, let inode = info.fileInode, let device = info.fileDevice {
            noteSocketFile(info.name, inode: inode, device: device, pid: context.pid, into: &record)
        }
        if info.type != SOCK_DGRAM.rawValue, let listener = table.values.first(where: { $0.pending.contains(d.inode) }) {
            // Its other end waits in a listener's queue (that end has no inode,
            // so sock_diag gives no peer): connected again to that listener at restart.
            record.pendingOn = listener.inode
            // What it sent waits in the other end, which no call can read
            // without accepting it: saved, it would be lost (CRIU refuses too).
            if info.sendQueue > 0 {
                throw CheckpointError(ENOTSUP, "fd \(d.fd): sent data on a connection to \(SocketAddress.describe(listener.name)) not yet accepted, which cannot be saved")
            }
        }
        if info.type == SOCK_DGRAM.rawValue && info.peer != 0 {
            record.peerAddress = table[info.peer]?.name ?? []  // reconnected by name if not a pair
        }
        // A connection waiting to be accepted whose client is closed or not
        // saved: whether it holds data cannot be seen, and accepting it to
        // look would take it from the program. Refused, not lost.
        let outside = info.pending.filter { $0 == 0 || !context.shared.scopeSockets.contains($0) }.count
        if listening && (outside > 0 || (info.receiveQueue > 0 && info.pending.isEmpty)) {
            throw CheckpointError(ENOTSUP, "fd \(d.fd): listening UNIX socket \(SocketAddress.describe(info.name)) has \(max(outside, Int(info.receiveQueue))) connection(s) not yet accepted from clients outside the checkpoint or closed, which cannot be saved")
        }
        if !listening, context.shared.contents.first(device: d.device, inode: d.inode) {
            let peeked = try peekQueue(copy, stream: info.type == SOCK_STREAM.rawValue,
                                       seqpacketBytes: info.type == SOCK_SEQPACKET.rawValue ? Int(info.receiveQueue) : nil)
            record.queued = peeked.messages
            record.senders = peeked.senders.map { .init(message: $0.message, address: $0.address) }
            for (message, fds) in peeked.passed {
                let numbers = fds.compactMap { context.inFlight.take($0) }
                if numbers.count < fds.count { warning = "fd \(d.fd): descriptors in flight in a socket that is itself in flight are lost" }
                if !numbers.isEmpty { record.passed.append(.init(message: message, fds: numbers)) }
            }
            warning = peeked.note.map { "fd \(d.fd): \($0)" } ?? warning
        }
        state.payload = .unixSocket(record)
        if let warning { context.warn(warning) }
    }

    /// Whether the path still leads to the file this socket made at bind
    /// (seen from the process, relative names from its working directory),
    /// and that file's mode and owner.
    static func noteSocketFile(_ name: [UInt8], inode: UInt32, device: UInt32, pid: pid_t, into record: inout UnixSocketRecord) {
        let path = String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
        let seen = path.hasPrefix("/") ? "/proc/\(pid)/root\(path)" : "/proc/\(pid)/cwd/\(path)"
        var st = stat()
        let kernelDevice = UInt64(Device.make(major: device >> 20, minor: device & 0xfffff))
        guard lstat(seen, &st) == 0, UInt64(st.st_ino) == UInt64(inode), UInt64(st.st_dev) == kernelDevice else {
            record.nameGone = true
            return
        }
        record.fileMode = UInt64(st.st_mode & 0o7777)
        record.fileOwner = [UInt64(st.st_uid), UInt64(st.st_gid)]
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        if (0...2).contains(f.inheritFrom) && c.objects.sockets.peerIsOutside(f) {
            // Stdio connected to someone outside the checkpoint: cr_restart's, as for pipes.
            return try c.inheritStdio(f.inheritFrom, as: f, why: "fd \(f.fd) (\(f.path)) leads outside the checkpoint, and this restart has no fd \(f.inheritFrom) to give it: closed")
        }
        return try Sockets.deliver(f, in: c)
    }

    static func describe(_ f: FileDescriptorState) -> String { Sockets.describe(f) }

    /// The sun_path bytes of a sender's address as recvmsg gave it (a path
    /// without its NUL, an abstract name with its leading one); nil for an
    /// unnamed sender.
    static func senderName(_ a: sockaddr_un, length: socklen_t) -> [UInt8]? {
        let family = MemoryLayout<sa_family_t>.size
        guard Int(length) > family, Int(length) <= MemoryLayout<sockaddr_un>.size else { return nil }
        var name = withUnsafeBytes(of: a.sun_path) { Array($0.prefix(Int(length) - family)) }
        if name.first != 0 { while name.last == 0 { name.removeLast() } }
        return name.isEmpty ? nil : name
    }

    /// Limit on the bytes saved from one socket's receive queue.
    static let queueLimit = 64 << 20

    /// What a peek of the receive queue found.
    struct Peeked {
        var messages: [[UInt8]] = []
        /// Per message index, the descriptors in flight with it, now ours (close-on-exec).
        var passed: [(message: Int, fds: [Int32])] = []
        /// Per datagram that came from a named socket, that name (sun_path bytes).
        var senders: [(message: Int, address: [UInt8])] = []
        var note: String?
    }

    /// The messages in the receive queue, read with MSG_PEEK from offset 0
    /// on; SO_PEEK_OFF is put back as it was. Stream data comes as one chunk,
    /// except that a chunk ends after data that carries descriptors.
    /// `seqpacketBytes`: the bytes sock_diag counts in a seqpacket queue, so
    /// that an empty read past them is the closed peer's EOF, not a message.
    static func peekQueue(_ fd: Int32, stream: Bool, seqpacketBytes: Int? = nil) throws -> Peeked {
        try SocketBorrower.peekingFromStart(fd, { try peekAll(fd, stream: stream, seqpacketBytes: seqpacketBytes) })
            ?? Peeked(note: "this socket's queue cannot be peeked (SO_PEEK_OFF); its unread data is lost")
    }

    /// `peekQueue` with the peek offset at the queue's start.
    private static func peekAll(_ fd: Int32, stream: Bool, seqpacketBytes: Int?) throws -> Peeked {
        var peeked = Peeked()
        var buffer = [UInt8](repeating: 0, count: 1 << 18)
        // Room for the most descriptors one message can carry (SCM_MAX_FD, 253).
        var control = [UInt8](repeating: 0, count: 4096)
        var total = 0
        var chunkEnds = false
        while total < Self.queueLimit {
            var flags: Int32 = 0
            var received: [Int32] = []
            var from = sockaddr_un()
            var fromLength = socklen_t(0)
            let n = buffer.withUnsafeMutableBytes { data in
                control.withUnsafeMutableBytes { ctl in
                    var iov = iovec(iov_base: data.baseAddress, iov_len: data.count)
                    return withUnsafeMutablePointer(to: &iov) { iovp -> Int in
                        withUnsafeMutablePointer(to: &from) { name -> Int in
                            var msg = msghdr()
                            msg.msg_iov = iovp
                            msg.msg_iovlen = 1
                            msg.msg_control = ctl.baseAddress
                            msg.msg_controllen = ctl.count
                            // Who sent a datagram (stream data has no sender).
                            if !stream {
                                msg.msg_name = UnsafeMutableRawPointer(name)
                                msg.msg_namelen = socklen_t(MemoryLayout<sockaddr_un>.size)
                            }
                            let r = recvmsg(fd, &msg, Int32(MSG_PEEK | MSG_DONTWAIT) | Int32(MSG_CMSG_CLOEXEC))
                            flags = msg.msg_flags
                            fromLength = msg.msg_namelen
                            if r >= 0 { received = Self.passedDescriptors(msg) }
                            return r
                        }
                    }
                }
            }
            if n < 0 {
                if errno == EINTR { continue }
                // Nothing queued; a stream or seqpacket socket never connected (EINVAL, ENOTCONN) has no queue.
                if errno == EAGAIN || errno == EINVAL || errno == ENOTCONN { break }
                throw CheckpointError(errno: errno, "peeking socket queue")
            }
            if flags & Int32(MSG_TRUNC) != 0 { peeked.note = "a queued datagram larger than 256 KiB was cut short" }
            if flags & Int32(MSG_CTRUNC) != 0 { peeked.note = "a message carried more descriptors than could be read; the rest are lost" }
            if n == 0 {
                for fd in received { close(fd) }
                // Stream: end of data (peer shut down). Datagram: an empty message, which does not move the peek offset.
                if !stream, total < (seqpacketBytes ?? Int.max) {
                    peeked.messages.append([])
                    peeked.note = peeked.note ?? "datagrams queued after an empty one are not saved"
                }
                break
            }
            // A stream peek runs on through plain data into the first data with
            // descriptors and stops after it: the descriptors go with the whole
            // chunk (where exactly that data began is not visible to a peek),
            // which is what a reader with a large enough buffer gets too.
            if stream, !peeked.messages.isEmpty, !chunkEnds, received.isEmpty {
                peeked.messages[peeked.messages.count - 1] += buffer[0..<n]
            } else {
                peeked.messages.append(Array(buffer[0..<n]))
            }
            if !received.isEmpty { peeked.passed.append((peeked.messages.count - 1, received)) }
            if !stream, let name = Self.senderName(from, length: fromLength) { peeked.senders.append((peeked.messages.count - 1, name)) }
            chunkEnds = !received.isEmpty
            total += n
        }
        return peeked
    }

    /// The descriptors a peek received along with the data (ours now).
    private static func passedDescriptors(_ msg: msghdr) -> [Int32] {
        guard msg.msg_controllen >= MemoryLayout<cmsghdr>.size, let base = msg.msg_control else { return [] }
        var fds: [Int32] = []
        var at = 0
        while at + MemoryLayout<cmsghdr>.size <= msg.msg_controllen {
            let header = base.load(fromByteOffset: at, as: cmsghdr.self)
            guard header.cmsg_len >= MemoryLayout<cmsghdr>.size else { break }
            if header.cmsg_level == SOL_SOCKET && header.cmsg_type == Int32(SCM_RIGHTS) {
                let count = (Int(header.cmsg_len) - MemoryLayout<cmsghdr>.size) / 4
                for k in 0..<count { fds.append(base.load(fromByteOffset: at + MemoryLayout<cmsghdr>.size + 4 * k, as: Int32.self)) }
            }
            at += (Int(header.cmsg_len) + 7) & ~7
        }
        return fds
    }
}
