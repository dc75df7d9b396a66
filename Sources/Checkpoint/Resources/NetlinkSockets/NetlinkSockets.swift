import CheckpointImage
import Glibc
import LinuxKit

/// AF_NETLINK sockets (route, uevent, audit... listeners and requesters):
/// protocol, bound port ID, every multicast group joined, the port and
/// groups it is connected to. At restart the restorer makes the socket and
/// binds it to the same port (the original's is free once it is gone), joins
/// the groups (those above 32 one by one) and connects it again. Messages
/// waiting in it are not kept: said in a warning.
enum NetlinkSockets: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.netlinkSocket]
    static var followsForkSharing: Bool { false }

    /// Claimed through `Sockets`, which knows the family.
    static func claims(_ d: OpenDescriptor) -> Bool { false }
    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {}

    static let solNetlink: Int32 = 270, addMembership: Int32 = 1, listMemberships: Int32 = 9

    static func describe(_ d: OpenDescriptor, copy: Int32, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        var r = NetlinkSocketRecord(type: UInt64(max(SocketBorrower.option(copy, SO_TYPE), 0)), protocol: UInt64(max(SocketBorrower.option(copy, SO_PROTOCOL), 0)))
        // struct sockaddr_nl: family (2), pad (2), port ID (4), groups bitmap (4).
        let local = SocketBorrower.name(copy, getsockname), peer = SocketBorrower.name(copy, getpeername)
        if local.count >= 12 { r.portID = UInt64(u32(local, 4)) }
        if peer.count >= 12 { (r.peerPortID, r.peerGroups) = (UInt64(u32(peer, 4)), UInt64(u32(peer, 8))) }
        r.groups = memberships(copy)
        // SO_MEMINFO's first field: bytes waiting to be read.
        var info = [UInt32](repeating: 0, count: 9)
        var length = socklen_t(36)
        if getsockopt(copy, SOL_SOCKET, 55, &info, &length) == 0, info[0] > 0 {
            context.warn("fd \(d.fd): \(info[0]) bytes of messages waiting in a netlink socket (protocol \(r.protocol)) are not saved")
        }
        state.kind = .netlinkSocket
        state.payload = .netlinkSocket(r)
    }

    /// NETLINK_LIST_MEMBERSHIPS: a bitmap of every group, however high.
    static func memberships(_ fd: Int32) -> [UInt64] {
        var words = [UInt32](repeating: 0, count: 32)
        var length = socklen_t(words.count * 4)
        guard getsockopt(fd, solNetlink, listMemberships, &words, &length) == 0 else { return [] }
        if Int(length) > words.count * 4 {
            words = [UInt32](repeating: 0, count: (Int(length) + 3) / 4)
            length = socklen_t(words.count * 4)
            guard getsockopt(fd, solNetlink, listMemberships, &words, &length) == 0 else { return [] }
        }
        var groups: [UInt64] = []
        for (w, word) in words.prefix(Int(length) / 4).enumerated() where word != 0 {
            for bit in 0..<32 where word & (1 << UInt32(bit)) != 0 { groups.append(UInt64(w * 32 + bit + 1)) }
        }
        return groups
    }

    private static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { b[at..<(at + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        try Sockets.deliver(f, in: c)
    }

    static func describe(_ f: FileDescriptorState) -> String {
        guard let r = f.netlinkSocket else { return "" }
        return " protocol \(r.protocol) port \(r.portID)\(r.groups.isEmpty ? "" : " groups \(r.groups.map(String.init).joined(separator: ","))")"
    }

    /// The restorer's socket: bound to its port and first 32 groups, the
    /// other groups joined, connected again; what the kernel refuses is said.
    static func make(_ f: FileDescriptorState, _ r: NetlinkSocketRecord) throws -> SocketFactory.Made {
        let fd = Glibc.socket(AF_NETLINK, Int32(truncatingIfNeeded: r.type) | Int32(SOCK_CLOEXEC.rawValue), Int32(truncatingIfNeeded: r.protocol))
        guard fd >= 0 else { return .closed("fd \(f.fd): a netlink socket of protocol \(r.protocol) cannot be made again here (\(errorText(errno))); it is closed") }
        var refused: [String] = []
        func address(port: UInt64, groups: UInt64) -> [UInt8] {
            bytes(of: UInt16(AF_NETLINK)) + [0, 0] + bytes(of: UInt32(truncatingIfNeeded: port)) + bytes(of: UInt32(truncatingIfNeeded: groups))
        }
        func call(_ what: String, _ a: [UInt8], _ f: (Int32, UnsafePointer<sockaddr>?, socklen_t) -> Int32) {
            let ok = a.withUnsafeBytes { f(fd, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) } == 0
            if !ok { refused.append("\(what) (\(errorText(errno)))") }
        }
        let low = r.groups.filter { $0 <= 32 }.reduce(UInt64(0)) { $0 | 1 << ($1 - 1) }
        if r.portID != 0 || low != 0 {
            call("bind to port \(r.portID) groups 0x\(String(low, radix: 16))", address(port: r.portID, groups: low)) { Glibc.bind($0, $1, $2) }
        }
        for g in r.groups where g > 32 {
            var group = UInt32(truncatingIfNeeded: g)
            if setsockopt(fd, solNetlink, addMembership, &group, 4) != 0 { refused.append("group \(g) (\(errorText(errno)))") }
        }
        if r.peerPortID != 0 || r.peerGroups != 0 {
            call("connect to port \(r.peerPortID)", address(port: r.peerPortID, groups: r.peerGroups)) { Glibc.connect($0, $1, $2) }
        }
        return refused.isEmpty ? .socket(fd) : .socketWithWarning(fd, "fd \(f.fd): netlink socket settings not set again: \(refused.joined(separator: ", "))")
    }
}
