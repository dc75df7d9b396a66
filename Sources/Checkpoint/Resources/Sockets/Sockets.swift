import CheckpointImage
import Glibc
import LinuxKit

/// At checkpoint time every socket is this kind first: it borrows the
/// socket and hands it to the kind of its family (UnixSockets,
/// InetSockets, TCPConnections), which set the image kind. A socket no
/// family takes stays unsupported, closed after restart with a warning.
enum Sockets: FileKind {
    static let restores: [FileDescriptorState.Kind] = []
    static var followsForkSharing: Bool { false }

    static func claims(_ d: OpenDescriptor) -> Bool { d.mode == S_IFSOCK }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .unsupported
        if d.fd <= 2 { state.inheritFrom = d.fd }  // the restarter's fd of that number, if its peer is outside
        if state.sharesWith != d.fd, let first = context.collected.first(where: { $0.fd == state.sharesWith }) {
            // A dup: made again from the first descriptor.
            state.kind = first.kind
            state.payload = first.payload
            state.socketOptions = first.socketOptions
            return
        }
        let copy = try context.sockets.borrow(d.fd)
        defer { close(copy) }
        let family = SocketBorrower.option(copy, SO_DOMAIN)
        // Read before the family's look (a TCP connection's is in repair
        // mode after it, which forces SO_REUSEADDR on), for the families saved.
        var options: [FileDescriptorState.SocketOption] = []
        if [AF_UNIX, AF_INET, AF_INET6, AF_PACKET, AF_NETLINK].contains(family) {
            let defaults = context.shared.socketDefaults.values(family: family, type: SocketBorrower.option(copy, SO_TYPE),
                                                                protocol: SocketBorrower.option(copy, SO_PROTOCOL))
            options = SocketOptions.read(copy, defaults: defaults)
        }
        switch family {
        case AF_UNIX: try UnixSockets.describe(d, copy: copy, into: &state, in: context)
        case AF_INET, AF_INET6: try InetSockets.describe(d, copy: copy, family: family, into: &state, in: context)
        case AF_PACKET: try PacketSockets.describe(d, into: &state, in: context)
        case AF_NETLINK: try NetlinkSockets.describe(d, copy: copy, into: &state, in: context)
        default: context.warn("fd \(d.fd) (\(d.link)): sockets of family \(family) are not saved; it will be closed after restart")
        }
        if state.kind != .unsupported {
            state.socketOptions = options
            // The checkpoint's own drop filter (TCPNetworkLock) is not the program's.
            if context.shared.tcpLock.holds(inode: d.inode) { state.socketOptions.removeAll { SocketOptions.isFilter($0) } }
        }
    }

    /// Sockets of other kinds are restored by their family's kind.
    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        .closed("fd \(f.fd) (\(f.path)) was not saved and is closed")
    }

    /// The restorer's socket for `f` (made once per socket), handed to the stub.
    static func deliver(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        // Made in its own network namespace where that is not its process's.
        let made = try f.netNamespace.map { k in try c.objects.inNetNamespace(k) { try c.objects.sockets.socket(for: f) } } ?? c.objects.sockets.socket(for: f)
        switch made {
        case .socket(let ours): return .local(ours)
        case .socketWithWarning(let ours, let why):
            c.warn(why)
            return .local(ours)
        case .closed(let why): return .closed(why)
        }
    }

    /// inspect: the socket's ends and how much waits in it.
    static func describe(_ f: FileDescriptorState) -> String {
        let (local, peer) = f.socketAddresses
        let queued: Int
        switch f.payload {
        case .unixSocket(let r): queued = r.queued.reduce(0) { $0 + $1.count }
        case .tcpConnection(let r): queued = (r.queues?.receive.count ?? 0) + (r.queues?.send.count ?? 0)
        case .inetSocket(let r): queued = r.datagrams.reduce(0) { $0 + $1.data.count }
        default: queued = 0
        }
        return " \(SocketAddress.describe(local))\(peer.isEmpty ? "" : " -> \(SocketAddress.describe(peer))") queued \(queued) bytes"
    }
}
