import Glibc
import SystemPackage

/// The kernel's sock_diag netlink interface: one SOCK_DIAG_BY_FAMILY dump
/// of the caller's network namespace.
public enum SockDiag {
    /// Sends a dump request whose family-specific part is `body` and hands
    /// each reply message's payload (its range in the buffer) to `each`.
    /// `type` and `protocol`: another netlink family's dump (rtnetlink's RTM_GETLINK).
    static func dump(_ body: [UInt8], type: UInt16 = 20, protocol proto: Int32 = 4, netlink: NetlinkSource = .here,
                     _ each: ([UInt8], Range<Int>) -> Void) throws {
        // SOCK_DIAG_BY_FAMILY unless said; NLM_F_REQUEST | NLM_F_DUMP
        let sock = try request(body, type: type, flags: 0x301, protocol: proto, netlink: netlink)
        let what = proto == 4 ? "sock_diag" : "netlink \(proto)"
        defer { close(sock) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(sock, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemCallError("recv(\(what))", Errno(rawValue: n < 0 ? errno : EIO)) }
            var at = 0
            while at + 16 <= n {
                let length = Int(UnixSocketDiag.get32(buffer, at)), type = UnixSocketDiag.get16(buffer, at + 4)
                guard length >= 16, at + length <= n else { throw SystemCallError("\(what) reply", Errno(rawValue: EPROTO)) }
                if type == 3 { return }  // NLMSG_DONE
                if type == 2 {           // NLMSG_ERROR
                    let code = Int32(bitPattern: UnixSocketDiag.get32(buffer, at + 16))
                    throw SystemCallError(what, Errno(rawValue: -code))
                }
                each(buffer, (at + 16)..<(at + length))
                at += (length + 3) & ~3
            }
        }
    }

    /// sk_shutdown of every TCP, UDP or raw socket (by `protocol`) of one
    /// family, by inode (INET_DIAG_SHUTDOWN: 1 reading shut, 2 writing).
    public static func inetShutdown(family: Int32, protocol proto: Int32, netlink: NetlinkSource = .here) throws -> [UInt64: UInt8] {
        // inet_diag_req_v2 (56 bytes): family, protocol, ext, pad, states, a zero inet_diag_sockid.
        guard let familyByte = UInt8(exactly: family), let protocolByte = UInt8(exactly: proto) else { return [:] }
        var request = [UInt8](repeating: 0, count: 56)
        request[0] = familyByte
        request[1] = protocolByte
        UnixSocketDiag.put32(&request, 4, 0xffff_ffff)
        var result: [UInt64: UInt8] = [:]
        try dump(request, netlink: netlink) { b, range in
            // inet_diag_msg (72 bytes, the inode at 68), then attributes.
            guard range.count >= 72 else { return }
            let inode = UInt64(UnixSocketDiag.get32(b, range.lowerBound + 68))
            var at = range.lowerBound + 72
            while at + 4 <= range.upperBound {
                let length = Int(UnixSocketDiag.get16(b, at)), type = UnixSocketDiag.get16(b, at + 2)
                guard length >= 4, at + length <= range.upperBound else { break }
                if type == 8 && length >= 5 { result[inode] = b[at + 4] }  // INET_DIAG_SHUTDOWN
                at += (length + 3) & ~3
            }
        }
        return result
    }
}

extension SockDiag {
    /// A new sock_diag socket that has sent one message (`type`, `flags`,
    /// then `body`) to the kernel; the caller reads the answer and closes it.
    static func request(_ body: [UInt8], type: UInt16, flags: UInt16, protocol proto: Int32 = 4, netlink: NetlinkSource = .here) throws -> Int32 {
        let sock = try netlink.socket(protocol: proto)
        var message = [UInt8](repeating: 0, count: 16) + body   // nlmsghdr, then the request
        UnixSocketDiag.put32(&message, 0, UInt32(message.count))
        UnixSocketDiag.put16(&message, 4, type)
        UnixSocketDiag.put16(&message, 6, flags)
        UnixSocketDiag.put32(&message, 8, 1)
        // Unaddressed netlink messages go to the kernel.
        let sent = message.withUnsafeBytes { send(sock, $0.baseAddress, $0.count, 0) }
        guard sent == message.count else {
            let e = errno
            close(sock)
            throw SystemCallError("sendto(sock_diag)", Errno(rawValue: e))
        }
        return sock
    }

    /// Destroys the TCP sockets in TIME_WAIT on local `port` (host order) of
    /// `family`, at `address` (network order bytes) or at any address when
    /// nil (a wildcard bind). Needs CAP_NET_ADMIN and a kernel that can
    /// destroy TIME_WAIT sockets; returns how many went.
    public static func destroyTimeWait(family: Int32, port: UInt16, address: [UInt8]?) throws -> Int {
        guard let familyByte = UInt8(exactly: family) else { return 0 }
        var request = [UInt8](repeating: 0, count: 56)
        request[0] = familyByte
        request[1] = 6                                    // IPPROTO_TCP
        UnixSocketDiag.put32(&request, 4, 1 << 6)         // TCP_TIME_WAIT
        var found: [[UInt8]] = []
        try dump(request) { b, range in
            // inet_diag_msg: family, state, timer, retrans, then inet_diag_sockid (48 bytes: sport, dport big-endian, src, dst...).
            guard range.count >= 52 else { return }
            let at = range.lowerBound + 4
            let sport = UInt16(b[at]) << 8 | UInt16(b[at + 1])
            let source = Array(b[(at + 4)..<(at + 4 + (family == AF_INET6 ? 16 : 4))])
            if sport == port && (address == nil || address == source) { found.append(Array(b[at..<(at + 48)])) }
        }
        var destroyed = 0
        for id in found {
            var body = request
            body.replaceSubrange(8..<56, with: id)
            if (try? destroy(body)) != nil { destroyed += 1 }
        }
        return destroyed
    }

    /// One SOCK_DESTROY request (inet_diag_req_v2 naming the socket), acknowledged.
    static func destroy(_ body: [UInt8]) throws {
        let sock = try request(body, type: 21, flags: 0x5)     // SOCK_DESTROY; NLM_F_REQUEST | NLM_F_ACK
        defer { close(sock) }
        var reply = [UInt8](repeating: 0, count: 4096)
        let n = reply.withUnsafeMutableBytes { recv(sock, $0.baseAddress, $0.count, 0) }
        guard n >= 20, UnixSocketDiag.get16(reply, 4) == 2 else { throw SystemCallError("SOCK_DESTROY reply", Errno(rawValue: EPROTO)) }
        let code = Int32(bitPattern: UnixSocketDiag.get32(reply, 16))
        if code != 0 { throw SystemCallError("SOCK_DESTROY", Errno(rawValue: -code)) }
    }
}

extension SockDiag {
    /// Destroys (SOCK_DESTROY) the TCP socket of `family` connected from
    /// `local` to `peer` (sockaddr bytes as getsockname gives them) whose
    /// SO_COOKIE is `cookie`: tcp_abort, which ends it in state CLOSE with
    /// both addresses kept. Needs CAP_NET_ADMIN and CONFIG_INET_DIAG_DESTROY.
    public static func destroyConnection(family: Int32, local: [UInt8], peer: [UInt8], cookie: UInt64) throws {
        guard let familyByte = UInt8(exactly: family) else { throw SystemCallError("SOCK_DESTROY", Errno(rawValue: EAFNOSUPPORT)) }
        // Port and address of a sockaddr_in (port at 2, address at 4) or sockaddr_in6 (address at 8).
        func endpoint(_ a: [UInt8]) -> (port: [UInt8], ip: [UInt8])? {
            if family == AF_INET, a.count >= 8 { return (Array(a[2..<4]), Array(a[4..<8])) }
            if family == AF_INET6, a.count >= 24 { return (Array(a[2..<4]), Array(a[8..<24])) }
            return nil
        }
        guard let from = endpoint(local), let to = endpoint(peer) else { throw SystemCallError("SOCK_DESTROY", Errno(rawValue: EINVAL)) }
        // inet_diag_req_v2, its inet_diag_sockid at 8: sport, dport, src[16], dst[16], if, cookie[2].
        var request = [UInt8](repeating: 0, count: 56)
        request[0] = familyByte
        request[1] = 6                                        // IPPROTO_TCP
        UnixSocketDiag.put32(&request, 4, 0xffff_ffff)
        request.replaceSubrange(8..<10, with: from.port)
        request.replaceSubrange(10..<12, with: to.port)
        request.replaceSubrange(12..<(12 + from.ip.count), with: from.ip)
        request.replaceSubrange(28..<(28 + to.ip.count), with: to.ip)
        UnixSocketDiag.put32(&request, 48, UInt32(truncatingIfNeeded: cookie))
        UnixSocketDiag.put32(&request, 52, UInt32(truncatingIfNeeded: cookie >> 32))
        try destroy(request)
    }
}

/// Where a sock_diag socket is made: it answers for the network namespace
/// it was made in. `.of(pid)`: in that process's, by a short-lived child
/// sharing our descriptor table that enters the process's user namespace
/// (where a user owning it has the capability), then its network
/// namespace, and makes the socket there.
public enum NetlinkSource: Sendable {
    case here
    case of(pid_t)

    /// A netlink socket of `protocol` (NETLINK_SOCK_DIAG unless said).
    public func socket(protocol proto: Int32 = 4) throws -> Int32 {
        switch self {
        case .here:
            return try valueOrThrow("socket(AF_NETLINK, \(proto))") { Glibc.socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), proto) }
        case .of(let pid):
            // Built before the clone: the child may only make system calls.
            guard let userPath = strdup("/proc/\(pid)/ns/user"), let netPath = strdup("/proc/\(pid)/ns/net") else {
                throw SystemCallError("strdup", Errno(rawValue: ENOMEM))
            }
            defer { free(userPath); free(netPath) }
            let spawned = RawChild.spawn(flags: 0x400) {  // CLONE_FILES: its socket is ours
                if !InsideNamespace.enter(user: userPath, namespace: netPath, flag: CloneFlags.newNet) { Syscall.exitGroup(0) }
                let s = Syscall.raw(NR.socket, Int(AF_NETLINK), Int(Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)), Int(proto))
                // The number comes back as the exit status (0: failed).
                Syscall.exitGroup(s >= 0 && s < 255 ? s + 1 : 0)
            }
            guard case .success(let child) = spawned else { throw SystemCallError("clone (sock_diag helper)", Errno(rawValue: EAGAIN)) }
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 0
            guard code > 0 else { throw SystemCallError("entering the network namespace of process \(pid)", Errno(rawValue: EPERM)) }
            return code - 1
        }
    }
}
