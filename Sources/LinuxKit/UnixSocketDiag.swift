import Glibc
import SystemPackage

/// What the kernel's sock_diag netlink interface tells about UNIX sockets
/// that no descriptor can: the peer's inode, the bound name, the shutdown
/// state and, for listeners, the backlog.
public struct UnixSocketInfo: Equatable, Sendable {
    public var inode: UInt64
    public var type: Int32
    /// TCP-style state: 1 ESTABLISHED, 7 CLOSE (unconnected), 10 LISTEN.
    public var state: Int32
    public var peer: UInt64
    /// Bound address, sun_path bytes as bound (abstract names start with NUL); empty if unbound.
    public var name: [UInt8]
    /// sk_shutdown: 1 receive side shut, 2 send side shut.
    public var shutdown: UInt8
    /// For listeners: connections waiting and the backlog; otherwise bytes queued to read and to write.
    public var receiveQueue: UInt32
    public var sendQueue: UInt32
    /// The socket file the name was bound to (UNIX_DIAG_VFS): inode and the
    /// kernel's device number (major << 20 | minor); nil for abstract or unbound.
    public var fileInode: UInt32? = nil
    public var fileDevice: UInt32? = nil
    /// A listener's connections not yet accepted: the inodes of their server ends (UNIX_DIAG_ICONS).
    public var pending: [UInt64] = []

    public init(inode: UInt64, type: Int32, state: Int32, peer: UInt64, name: [UInt8], shutdown: UInt8, receiveQueue: UInt32, sendQueue: UInt32) {
        self.inode = inode; self.type = type; self.state = state; self.peer = peer; self.name = name
        self.shutdown = shutdown; self.receiveQueue = receiveQueue; self.sendQueue = sendQueue
    }
}

public enum UnixSocketDiag {
    /// Every UNIX socket of the caller's network namespace, by inode.
    public static func all(netlink: NetlinkSource = .here) throws -> [UInt64: UnixSocketInfo] {
        // unix_diag_req (24 bytes): every state, with name, VFS, peer, ICONS and rqlen (shutdown is always sent).
        var request = [UInt8](repeating: 0, count: 24)
        request[0] = UInt8(AF_UNIX)
        put32(&request, 4, 0xffff_ffff)     // udiag_states
        put32(&request, 12, 0x1 | 0x2 | 0x4 | 0x8 | 0x10)
        var result: [UInt64: UnixSocketInfo] = [:]
        try SockDiag.dump(request, netlink: netlink) { b, range in
            if let info = parse(b, from: range.lowerBound, to: range.upperBound) { result[info.inode] = info }
        }
        return result
    }

    /// unix_diag_msg (16 bytes) then attributes (u16 length, u16 type, payload, 4-aligned).
    static func parse(_ b: [UInt8], from start: Int, to end: Int) -> UnixSocketInfo? {
        guard end - start >= 16 else { return nil }
        var info = UnixSocketInfo(inode: UInt64(get32(b, start + 4)), type: Int32(b[start + 1]), state: Int32(b[start + 2]),
                                  peer: 0, name: [], shutdown: 0, receiveQueue: 0, sendQueue: 0)
        var at = start + 16
        while at + 4 <= end {
            let length = Int(get16(b, at)), type = get16(b, at + 2)
            guard length >= 4, at + length <= end else { break }
            let payload = (at + 4)..<(at + length)
            switch type {
            case 0: info.name = Array(b[payload])                                    // UNIX_DIAG_NAME
            case 1 where payload.count >= 8:                                          // UNIX_DIAG_VFS
                info.fileInode = get32(b, payload.lowerBound)
                info.fileDevice = get32(b, payload.lowerBound + 4)
            case 3:                                                                   // UNIX_DIAG_ICONS
                info.pending = stride(from: payload.lowerBound, to: payload.upperBound - 3, by: 4).map { UInt64(get32(b, $0)) }
            case 2 where payload.count >= 4: info.peer = UInt64(get32(b, payload.lowerBound))
            case 4 where payload.count >= 8:                                          // UNIX_DIAG_RQLEN
                info.receiveQueue = get32(b, payload.lowerBound)
                info.sendQueue = get32(b, payload.lowerBound + 4)
            case 6 where payload.count >= 1: info.shutdown = b[payload.lowerBound]   // UNIX_DIAG_SHUTDOWN
            default: break
            }
            at += (length + 3) & ~3
        }
        return info
    }

    static func put16(_ b: inout [UInt8], _ at: Int, _ v: UInt16) { b[at] = UInt8(v & 0xff); b[at + 1] = UInt8(v >> 8) }
    static func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) { for k in 0..<4 { b[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) } }
    static func get16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
    static func get32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) } }
}
