import CheckpointImage
import Glibc
import LinuxKit

/// Socket options, kept as the bytes getsockopt gives and set again at
/// restart. Only those that differ from a new socket of the same family,
/// type and protocol are kept, so a restart asks for no privilege the
/// program did not use (SO_MARK, SO_BINDTODEVICE...) and a kernel default
/// that changes between machines is not frozen into the image.
enum SocketOptions {
    struct Option {
        let level: Int32, name: Int32, label: String
        /// Largest value in bytes.
        var size = 4
        /// Needed before bind() (the address may only be taken with it).
        var beforeBind = false
    }

    static let socketLevel = SOL_SOCKET, ip: Int32 = 0, ipv6: Int32 = 41, tcp: Int32 = 6
    static let reuseAddress: Int32 = 2, sendBuffer: Int32 = 7, receiveBuffer: Int32 = 8
    static let sendBufferForce: Int32 = 32, receiveBufferForce: Int32 = 33, bufferLock: Int32 = 72
    static let filter: Int32 = 26, lockFilter: Int32 = 44

    /// In the order they are set: buffer sizes before SO_BUF_LOCK (setting a
    /// size locks it), the filter before SO_LOCK_FILTER.
    static let table: [Option] = [
        Option(level: socketLevel, name: reuseAddress, label: "SO_REUSEADDR", beforeBind: true),
        Option(level: socketLevel, name: 15, label: "SO_REUSEPORT", beforeBind: true),
        Option(level: socketLevel, name: 25, label: "SO_BINDTODEVICE", size: 16, beforeBind: true),
        Option(level: ip, name: 15, label: "IP_FREEBIND", beforeBind: true),
        Option(level: ip, name: 19, label: "IP_TRANSPARENT", beforeBind: true),
        Option(level: ipv6, name: 26, label: "IPV6_V6ONLY", beforeBind: true),
        Option(level: ipv6, name: 78, label: "IPV6_FREEBIND", beforeBind: true),
        Option(level: ipv6, name: 75, label: "IPV6_TRANSPARENT", beforeBind: true),
        Option(level: socketLevel, name: 5, label: "SO_DONTROUTE"),
        Option(level: socketLevel, name: 6, label: "SO_BROADCAST"),
        Option(level: socketLevel, name: sendBuffer, label: "SO_SNDBUF"),
        Option(level: socketLevel, name: receiveBuffer, label: "SO_RCVBUF"),
        Option(level: socketLevel, name: bufferLock, label: "SO_BUF_LOCK"),
        Option(level: socketLevel, name: 9, label: "SO_KEEPALIVE"),
        Option(level: socketLevel, name: 10, label: "SO_OOBINLINE"),
        Option(level: socketLevel, name: 11, label: "SO_NO_CHECK"),
        Option(level: socketLevel, name: 12, label: "SO_PRIORITY"),
        Option(level: socketLevel, name: 13, label: "SO_LINGER", size: 8),
        Option(level: socketLevel, name: 16, label: "SO_PASSCRED"),
        Option(level: socketLevel, name: 18, label: "SO_RCVLOWAT"),
        Option(level: socketLevel, name: 20, label: "SO_RCVTIMEO", size: 16),
        Option(level: socketLevel, name: 21, label: "SO_SNDTIMEO", size: 16),
        Option(level: socketLevel, name: 29, label: "SO_TIMESTAMP"),
        Option(level: socketLevel, name: 34, label: "SO_PASSSEC"),
        Option(level: socketLevel, name: 36, label: "SO_MARK"),
        Option(level: socketLevel, name: 42, label: "SO_PEEK_OFF"),
        Option(level: socketLevel, name: filter, label: "SO_ATTACH_FILTER"),
        Option(level: socketLevel, name: lockFilter, label: "SO_LOCK_FILTER"),
        Option(level: ip, name: 1, label: "IP_TOS"),
        Option(level: ip, name: 2, label: "IP_TTL"),
        Option(level: ip, name: 8, label: "IP_PKTINFO"),
        Option(level: ip, name: 3, label: "IP_HDRINCL"),
        Option(level: 255, name: 1, label: "ICMP_FILTER"),
        Option(level: 58, name: 1, label: "ICMPV6_FILTER", size: 32),
        Option(level: ipv6, name: 7, label: "IPV6_CHECKSUM"),
        Option(level: ip, name: 10, label: "IP_MTU_DISCOVER"),
        Option(level: ip, name: 11, label: "IP_RECVERR"),
        Option(level: ipv6, name: 16, label: "IPV6_UNICAST_HOPS"),
        Option(level: ipv6, name: 49, label: "IPV6_RECVPKTINFO"),
        Option(level: ipv6, name: 67, label: "IPV6_TCLASS"),
        Option(level: tcp, name: 4, label: "TCP_KEEPIDLE"),
        Option(level: tcp, name: 5, label: "TCP_KEEPINTVL"),
        Option(level: tcp, name: 6, label: "TCP_KEEPCNT"),
        Option(level: tcp, name: 18, label: "TCP_USER_TIMEOUT"),
        Option(level: tcp, name: 1, label: "TCP_NODELAY"),
        Option(level: tcp, name: 3, label: "TCP_CORK"),
        Option(level: tcp, name: 7, label: "TCP_SYNCNT"),
        Option(level: tcp, name: 8, label: "TCP_LINGER2"),
        Option(level: tcp, name: 9, label: "TCP_DEFER_ACCEPT"),
        Option(level: tcp, name: 13, label: "TCP_CONGESTION", size: 16),
        Option(level: tcp, name: 16, label: "TCP_THIN_LINEAR_TIMEOUTS"),
        Option(level: tcp, name: 23, label: "TCP_FASTOPEN"),
        Option(level: tcp, name: 25, label: "TCP_NOTSENT_LOWAT"),
    ]

    /// On while a socket binds again (the address may be held by the killed
    /// original's sockets, or shared, or not local now), then as saved.
    static let bindHelpers: [(level: Int32, name: Int32)] = [(socketLevel, reuseAddress), (socketLevel, 15), (ip, 15)]

    static func setInt(_ fd: Int32, _ o: (level: Int32, name: Int32), _ value: Int32) {
        var v = value
        _ = setsockopt(fd, o.level, o.name, &v, 4)
    }

    static func label(_ o: FileDescriptorState.SocketOption) -> String {
        table.first { $0.level == o.level && $0.name == o.name }?.label ?? "option \(o.level)/\(o.name)"
    }

    /// The options of `fd` (our copy of the target's socket) that differ
    /// from a new socket's (`defaults`, aligned with `table`).
    static func read(_ fd: Int32, defaults: [[UInt8]?]) -> [FileDescriptorState.SocketOption] {
        let locks = value(fd, Option(level: socketLevel, name: bufferLock, label: "SO_BUF_LOCK")).map(int) ?? 0
        var saved: [FileDescriptorState.SocketOption] = []
        for (o, d) in zip(table, defaults) {
            // A buffer size the program did not set is the kernel's to tune.
            if o.level == socketLevel && o.name == sendBuffer && locks & 1 == 0 { continue }
            if o.level == socketLevel && o.name == receiveBuffer && locks & 2 == 0 { continue }
            // No filter is a new socket's state, whatever `defaults` could tell.
            guard let v = value(fd, o), v != d, !(o.level == socketLevel && o.name == filter && v.isEmpty) else { continue }
            saved.append(FileDescriptorState.SocketOption(level: o.level, name: o.name, value: v))
        }
        return saved
    }

    /// A new socket's values of `table`'s options (nil where it has none, or
    /// no such socket can be made here).
    static func defaults(family: Int32, type: Int32, protocol: Int32) -> [[UInt8]?] {
        let fresh = Glibc.socket(family, type, `protocol`)
        guard fresh >= 0 else { return table.map { _ in nil } }
        defer { close(fresh) }
        return table.map { value(fresh, $0) }
    }

    /// Sets the saved options of one phase (all when `beforeBind` is nil);
    /// returns the names of those the kernel refused.
    @discardableResult
    static func apply(_ options: [FileDescriptorState.SocketOption], to fd: Int32, beforeBind: Bool?) -> [String] {
        var refused: [String] = []
        for o in options {
            let known = table.first { $0.level == o.level && $0.name == o.name }
            if let beforeBind, (known?.beforeBind ?? false) != beforeBind { continue }
            // Already so: nothing to ask of the kernel. A checkpointer that
            // could not make such a socket itself (a user's raw ICMP socket)
            // kept every option, some of which no one may set (IPV6_CHECKSUM
            // of ICMPv6, an empty filter).
            if let known, let now = value(fd, known), now == o.value { continue }
            if !set(fd, o) { refused.append("\(label(o)) (\(errorText(errno)))") }
        }
        return refused
    }

    static func isFilter(_ o: FileDescriptorState.SocketOption) -> Bool { o.level == socketLevel && o.name == filter }

    private static func set(_ fd: Int32, _ o: FileDescriptorState.SocketOption) -> Bool {
        if o.level == socketLevel && o.name == filter {
            // struct sock_fprog: a u16 count of 8-byte instructions, padding, a pointer to them.
            var program = o.value
            return program.withUnsafeMutableBytes { code -> Bool in
                var fprog = [UInt8](repeating: 0, count: 16)
                let count = UInt16(truncatingIfNeeded: o.value.count / 8)
                let address = UInt64(UInt(bitPattern: code.baseAddress))
                for k in 0..<2 { fprog[k] = UInt8(truncatingIfNeeded: count >> (8 * UInt16(k))) }
                for k in 0..<8 { fprog[8 + k] = UInt8(truncatingIfNeeded: address >> (8 * UInt64(k))) }
                return setsockopt(fd, o.level, o.name, &fprog, 16) == 0
            }
        }
        if o.level == socketLevel && (o.name == sendBuffer || o.name == receiveBuffer) {
            // The kernel reports twice what was asked for; the forcing option passes the limit, as root.
            var half = Int32(clamping: int(o.value) / 2)
            let force = o.name == sendBuffer ? sendBufferForce : receiveBufferForce
            if setsockopt(fd, o.level, force, &half, 4) == 0 { return true }
            return setsockopt(fd, o.level, o.name, &half, 4) == 0
        }
        var bytes = o.value
        return setsockopt(fd, o.level, o.name, &bytes, socklen_t(bytes.count)) == 0
    }

    /// The option's bytes, or nil where this socket has no such option.
    private static func value(_ fd: Int32, _ o: Option) -> [UInt8]? {
        if o.level == socketLevel && o.name == filter {
            // A zero length asks for the number of instructions; then the instructions.
            var count = socklen_t(0)
            guard getsockopt(fd, o.level, o.name, nil, &count) == 0 else { return nil }
            guard count > 0 else { return [] }
            var code = [UInt8](repeating: 0, count: Int(count) * 8)
            guard getsockopt(fd, o.level, o.name, &code, &count) == 0 else { return nil }
            return Array(code.prefix(Int(count) * 8))
        }
        var buffer = [UInt8](repeating: 0, count: o.size)
        var length = socklen_t(o.size)
        guard getsockopt(fd, o.level, o.name, &buffer, &length) == 0 else { return nil }
        return Array(buffer.prefix(Int(length)))
    }

    private static func int(_ bytes: [UInt8]) -> Int {
        bytes.prefix(4).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    }
}

/// A new socket's option values per (family, type, protocol), asked once per checkpoint.
final class SocketDefaults {
    private var known: [[Int32]: [[UInt8]?]] = [:]

    func values(family: Int32, type: Int32, protocol proto: Int32) -> [[UInt8]?] {
        let key = [family, type, proto]
        if let v = known[key] { return v }
        let v = SocketOptions.defaults(family: family, type: type, protocol: proto)
        known[key] = v
        return v
    }
}
