import CheckpointImage
import Glibc
import LinuxKit

/// A UDP socket's received datagrams not yet read: peeked at checkpoint,
/// sent to it again at restart from their senders' addresses, so recvfrom
/// names the sender a server answers. (CRIU drops them.)
enum UDPQueue {
    /// The datagrams waiting in `fd` (a copy of the target's socket), in
    /// order. SO_PEEK_OFF steps the peeks through the queue and is put back
    /// as it was. A note says what could not be saved.
    static func peek(_ fd: Int32) -> (datagrams: [InetSocketRecord.Datagram], note: String?) {
        var saved = SocketBorrower.option(fd, SO_PEEK_OFF)
        var zero: Int32 = 0
        guard setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, 4) == 0 else {
            var probe: UInt8 = 0
            let waiting = recv(fd, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) >= 0
            return ([], waiting ? "its waiting datagrams cannot be peeked (SO_PEEK_OFF) and are not saved" : nil)
        }
        defer { _ = setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &saved, 4) }
        var out: [InetSocketRecord.Datagram] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var total = 0
        while true {
            var from = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = buffer.withUnsafeMutableBytes { data in
                withUnsafeMutablePointer(to: &from) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, data.baseAddress, data.count, Int32(MSG_PEEK | MSG_DONTWAIT), $0, &length) }
                }
            }
            guard n >= 0 else { return (out, nil) }  // EAGAIN: the queue's end
            // An empty datagram does not move the peek offset: nothing after it can be reached.
            guard n > 0 else { return (out, "an empty datagram waits in it: it and those after it are not saved") }
            total += n
            guard total <= InetSocketRecord.datagramLimit else {
                return (out, "more than \(InetSocketRecord.datagramLimit >> 20) MiB of datagrams wait in it: the rest is not saved")
            }
            let sender = withUnsafeBytes(of: from) { Array($0.prefix(Int(min(length, 128)))) }
            out.append(InetSocketRecord.Datagram(sender: sender, data: Array(buffer[0..<n])))
        }
    }
}

extension SocketFactory {
    /// At restart, once the socket `fd` is bound (and connected): each of
    /// its saved datagrams goes to its address (loopback for a wildcard one)
    /// from its sender's address, through the image's socket bound there
    /// (made by the time the queues are refilled) or one made now, here in
    /// this socket's network namespace, bound there for the sends (as root a
    /// non-local address too, with IP_TRANSPARENT). The sends wait until
    /// every socket exists and has its options; what cannot be sent is
    /// dropped with a warning, never sent from another address.
    func queueUDP(_ f: FileDescriptorState, _ s: InetSocketRecord, into fd: Int32) {
        guard !s.datagrams.isEmpty else { return }
        guard let local = InetEndpoint(s.address), local.port != 0 else {
            deferredRefills.append { "fd \(f.fd): \(s.datagrams.count) datagram(s) waited in a socket with no port: they are lost" }
            return
        }
        var temporary: [InetEndpoint: Int32] = [:]
        var imageSocket: [InetEndpoint: UInt64] = [:]
        for g in s.datagrams {
            guard let from = InetEndpoint(g.sender), temporary[from] == nil, imageSocket[from] == nil else { continue }
            if let inode = imageUDPSocket(at: from) { imageSocket[from] = inode } else if let t = Self.boundSender(from) { temporary[from] = t }
        }
        deferredRefills.append { [self] in
            defer { for t in temporary.values { Glibc.close(t) } }
            var lost: [String] = []
            for g in s.datagrams {
                guard let from = InetEndpoint(g.sender), let sender = imageSocket[from].flatMap({ madeSocket($0) }) ?? temporary[from] else {
                    lost.append(describe(g.sender))
                    continue
                }
                // A wildcard address is reached at loopback, in the sender's family.
                let wildcard = local.ip.allSatisfy { $0 == 0 }
                let to = InetEndpoint(ip: wildcard ? (from.ip.count == 4 ? [127, 0, 0, 1] : [UInt8](repeating: 0, count: 15) + [1]) : local.ip,
                                      port: local.port).sockaddr(port: local.port)
                let n = g.data.withUnsafeBytes { data in
                    to.withUnsafeBytes { a in
                        sendto(sender, data.baseAddress, data.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL),
                               a.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
                    }
                }
                if n != g.data.count { lost.append(describe(g.sender)) }
            }
            guard !lost.isEmpty else { return nil }
            let names = Array(Set(lost)).sorted().prefix(4).joined(separator: ", ")
            return "fd \(f.fd): \(lost.count) of \(s.datagrams.count) datagram(s) waiting in UDP socket \(describe(s.address)) are lost (from \(names): that address could not be sent from again)"
        }
    }

    /// The image's datagram socket bound to `address`, by inode.
    func imageUDPSocket(at address: InetEndpoint) -> UInt64? {
        byInode.first { _, f in
            guard let r = f.inetSocket, r.type == UInt64(SOCK_DGRAM.rawValue), r.shutdown & 2 == 0 else { return false }
            return InetEndpoint(r.address) == address
        }?.key
    }

    /// A UDP socket bound to `address` for sending from it, or nil.
    static func boundSender(_ address: InetEndpoint) -> Int32? {
        let v4 = address.ip.count == 4
        let fd = Glibc.socket(v4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        if !v4 { _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, 4) }
        let name = address.sockaddr(port: address.port)
        func bindIt() -> Bool {
            name.withUnsafeBytes { a in bind(fd, a.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count)) == 0 }
        }
        if bindIt() { return fd }
        // Not an address of this machine: root may send from it all the same.
        if errno == EADDRNOTAVAIL {
            let transparent = v4 ? setsockopt(fd, Int32(IPPROTO_IP), 19, &one, 4) : setsockopt(fd, Int32(IPPROTO_IPV6), 75, &one, 4)  // IP(V6)_TRANSPARENT
            if transparent == 0 && bindIt() { return fd }
        }
        Glibc.close(fd)
        return nil
    }
}
