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
        if let peeked = SocketBorrower.peekingFromStart(fd, { peekAll(fd) }) { return peeked }
        var probe: UInt8 = 0
        let waiting = recv(fd, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) >= 0
        return ([], waiting ? "its waiting datagrams cannot be peeked (SO_PEEK_OFF) and are not saved" : nil)
    }

    /// `peek` with the peek offset at the queue's start.
    private static func peekAll(_ fd: Int32) -> (datagrams: [InetSocketRecord.Datagram], note: String?) {
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
    /// (made by the time the queues are refilled), else one made now, here in
    /// this socket's network namespace, bound there for the sends (as root a
    /// non-local address too, with IP_TRANSPARENT), else, as root, a raw
    /// socket that writes the sender's address and port into the packet (a
    /// live process outside the image holds that port). The sends wait until
    /// every socket exists and has its options; what cannot be sent is
    /// dropped with a warning, never sent from another address.
    func queueUDP(_ f: FileDescriptorState, _ s: InetSocketRecord, into fd: Int32) {
        guard !s.datagrams.isEmpty else { return }
        guard let local = InetEndpoint(s.address), local.port != 0 else {
            deferredRefills.append { "fd \(f.fd): \(s.datagrams.count) datagram(s) waited in a socket with no port: they are lost" }
            return
        }
        var ways: [InetEndpoint: UDPSender] = [:]
        for g in s.datagrams {
            guard let from = InetEndpoint(g.sender), ways[from] == nil else { continue }
            if let inode = imageUDPSocket(at: from) { ways[from] = .image(inode) } else if let t = Self.boundSender(from) {
                ways[from] = .bound(t)
            } else if let r = UDPSender.raw(from) { ways[from] = r }
        }
        deferredRefills.append { [self] in
            defer { for w in ways.values { w.close() } }
            var lost: [String] = []
            for g in s.datagrams {
                // A wildcard address is reached at loopback, in the sender's family.
                guard let from = InetEndpoint(g.sender), let way = ways[from] else { lost.append(describe(g.sender)); continue }
                let to = InetEndpoint(ip: local.ip.allSatisfy { $0 == 0 } ? (from.ip.count == 4 ? [127, 0, 0, 1] : [UInt8](repeating: 0, count: 15) + [1]) : local.ip,
                                      port: local.port)
                if !way.send(g.data, from: from, to: to, made: { madeSocket($0) }) { lost.append(describe(g.sender)) }
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

/// How a saved datagram is sent again from its sender's address.
enum UDPSender {
    /// The image's socket bound there (by inode; ours once made).
    case image(UInt64)
    /// A socket of ours bound there.
    case bound(Int32)
    /// A raw socket (root): the packet carries the address and port itself.
    case raw(Int32, v4: Bool)

    /// IPv4: one with IP_HDRINCL (we write the header; the kernel sums it);
    /// IPv6: one bound to the address whose UDP checksum the kernel fills
    /// (IPV6_CHECKSUM at offset 6). Nil without CAP_NET_RAW.
    static func raw(_ from: InetEndpoint) -> UDPSender? {
        let v4 = from.ip.count == 4
        let fd = Glibc.socket(v4 ? AF_INET : AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_UDP))
        guard fd >= 0 else { return nil }
        var one: Int32 = 1, offset: Int32 = 6
        let ready: Bool
        if v4 {
            ready = setsockopt(fd, Int32(IPPROTO_IP), IP_HDRINCL, &one, 4) == 0
        } else {
            _ = setsockopt(fd, Int32(IPPROTO_IPV6), 75, &one, 4)  // IPV6_TRANSPARENT: a non-local address too
            let name = InetEndpoint(ip: from.ip, port: 0).sockaddr(port: 0)
            ready = setsockopt(fd, Int32(IPPROTO_IPV6), 7, &offset, 4) == 0  // IPV6_CHECKSUM
                && name.withUnsafeBytes { bind(fd, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) == 0 }
        }
        guard ready else { Glibc.close(fd); return nil }
        return .raw(fd, v4: v4)
    }

    func send(_ data: [UInt8], from: InetEndpoint, to: InetEndpoint, made: (UInt64) -> Int32?) -> Bool {
        let fd: Int32, packet: [UInt8], name: [UInt8]
        switch self {
        case .image(let inode):
            guard let ours = made(inode) else { return false }
            (fd, packet, name) = (ours, data, to.sockaddr(port: to.port))
        case .bound(let ours):
            (fd, packet, name) = (ours, data, to.sockaddr(port: to.port))
        case .raw(let ours, let v4):
            guard data.count <= 65507, v4 == (to.ip.count == 4) else { return false }
            let length = 8 + data.count
            // UDP header: ports, length, checksum (IPv4: 0, none; IPv6: the kernel's).
            let udp = from.portBytes + to.portBytes + [UInt8(length >> 8), UInt8(length & 0xff), 0, 0] + data
            if v4 {
                let total = 20 + length
                let ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 0, 0x40, 0, 64, 17, 0, 0] + from.ip + to.ip
                (fd, packet, name) = (ours, ip + udp, to.sockaddr(port: 0))
            } else {
                (fd, packet, name) = (ours, udp, to.sockaddr(port: 0))
            }
        }
        let n = packet.withUnsafeBytes { p in
            name.withUnsafeBytes { a in
                sendto(fd, p.baseAddress, p.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), a.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
            }
        }
        return n == packet.count
    }

    func close() {
        switch self {
        case .image: break
        case .bound(let fd), .raw(let fd, _): Glibc.close(fd)
        }
    }
}
