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
    /// UNIX names bound again without their files (their occupants put back even on failure).
    let detachedNames = DetachedUnixNames()
    /// TCP connections made in repair mode, resumed when all sockets exist.
    var rebuilt: [(fd: Int32, file: FileDescriptorState, record: TCPConnectionRecord)] = []
    let byInode: [UInt64: FileDescriptorState]
    let cwdOf: [UInt64: String]
    /// The image PID of the process whose record of a socket is in `byInode`
    /// (its in-flight files are that process's).
    let ownerOf: [UInt64: pid_t]
    /// In-flight files (image PID, number) as the restorer holds them once their process is restored.
    var inFlight: [[UInt64]: Int32] = [:]
    /// Queues with descriptors in flight, refilled once every process's files exist.
    var deferredRefills: [() throws -> String?] = []

    /// cr_restart --tcp-close: established connections come back as closed sockets.
    let closeTCP: Bool
    /// Per socket, the mount namespace of its process (1-based; absent: ours),
    /// where its UNIX names are bound and connected to.
    let namespaceOf: [UInt64: Int]
    /// The image's mount namespaces as made (nil: none besides ours).
    var mountNamespaces: MountNamespaceFactory?
    /// Per socket, its process's effective user and group IDs and groups:
    /// the peer credentials (SO_PEERCRED, SO_PEERGROUPS) a UNIX socket
    /// pair or listener is made with.
    private let credentialsOf: [UInt64: (uid: UInt32, gid: UInt32, groups: [UInt32])]

    init(processes: [ProcessState], closeTCP: Bool = false) {
        self.closeTCP = closeTCP
        var records: [UInt64: FileDescriptorState] = [:], cwd: [UInt64: String] = [:], owner: [UInt64: pid_t] = [:], namespace: [UInt64: Int] = [:]
        var credentials: [UInt64: (uid: UInt32, gid: UInt32, groups: [UInt32])] = [:]
        for p in processes {
            for f in p.files where [.unixSocket, .inetSocket, .tcpConnection, .packetSocket, .netlinkSocket].contains(f.kind) {
                if records[f.inode] == nil || !(f.unixSocket?.queued.isEmpty ?? true) {
                    records[f.inode] = f
                    owner[f.inode] = p.pid
                }
                if credentials[f.inode] == nil, p.uids.count > 1, p.gids.count > 1 {
                    credentials[f.inode] = (UInt32(truncatingIfNeeded: p.uids[1]), UInt32(truncatingIfNeeded: p.gids[1]),
                                            p.groups.map { UInt32(truncatingIfNeeded: $0) })
                }
                cwd[f.inode] = p.cwd
                if p.mountNamespace != 0 { namespace[f.inode] = p.mountNamespace }
            }
        }
        namespaceOf = namespace
        credentialsOf = credentials
        byInode = records
        cwdOf = cwd
        ownerOf = owner
    }

    enum Made { case socket(Int32), socketWithWarning(Int32, String), closed(String) }

    /// `body` (a socketpair or listen) under the effective IDs of the
    /// process that has the socket, so its peer credentials are that
    /// process's user and groups, not root's, when root restarts another
    /// user's processes. (The PID in them stays cr_restart's.)
    func asOwner<T>(of inode: UInt64, _ body: () throws -> T) rethrows -> T {
        guard let c = credentialsOf[inode] else { return try body() }
        return try ThreadCredentials.asEffective(uid: c.uid, gid: c.gid, groups: c.groups, body)
    }

    /// socket(2) as the process that has the socket, so the socket's owner
    /// (its inode's, and the sk_uid that SO_REUSEPORT groups, `ss -e` and
    /// firewall owner matches go by) is that user, not root; made as we
    /// are where the owner may not make it. -1 with errno on failure.
    func ownedSocket(of inode: UInt64, _ family: Int32, _ type: Int32, _ proto: Int32) -> Int32 {
        let fd = asOwner(of: inode) { Glibc.socket(family, type, proto) }
        return fd >= 0 ? fd : Glibc.socket(family, type, proto)
    }

    /// A connected UNIX socket whose peer the image does not hold (and, for
    /// a datagram socket, has no name to connect to again).
    func peerIsOutside(_ f: FileDescriptorState) -> Bool {
        guard let saved = byInode[f.inode]?.unixSocket else { return false }
        return saved.peer != 0 && byInode[saved.peer] == nil && saved.peerAddress.isEmpty
    }

    /// Our descriptor for the socket behind `f`, or why it stays closed.
    func socket(for f: FileDescriptorState) throws -> Made {
        var result: Made
        if let fd = made[f.inode] {
            result = .socket(fd)
        } else {
            guard let saved = byInode[f.inode] else { return .closed("fd \(f.fd): socket record missing") }
            switch saved.payload {
            case .unixSocket(let s): result = try makeUnix(saved, s)
            case .tcpConnection(let s): result = try makeTCP(saved, s)
            case .inetSocket(let s): result = try makeInet(saved, s)
            case .packetSocket(let s): result = try PacketSockets.make(saved, s)
            case .netlinkSocket(let s): result = try NetlinkSockets.make(saved, s)
            default: return .closed("fd \(f.fd): socket record missing")
            }
            result = withOptions(saved, result)
        }
        // Status flags belong to the open file: the one this descriptor had.
        switch result {
        case .socket(let fd), .socketWithWarning(let fd, _): _ = fcntl(fd, F_SETFL, Int32(bitPattern: f.flags) & (O_NONBLOCK | O_ASYNC))
        case .closed: break
        }
        return result
    }

    /// The options set after bind (an inet socket had the others before it);
    /// one the kernel refuses is a warning, the socket still comes back.
    private func withOptions(_ saved: FileDescriptorState, _ made: Made) -> Made {
        let fd: Int32, earlier: String?
        switch made {
        case .socket(let s): (fd, earlier) = (s, nil)
        case .socketWithWarning(let s, let why): (fd, earlier) = (s, why)
        case .closed: return made
        }
        // A rebuilt connection takes its options as it leaves repair mode.
        if rebuilt.contains(where: { $0.fd == fd }) { return made }
        let refused = SocketOptions.apply(saved.socketOptions, to: fd, beforeBind: saved.kind == .inetSocket ? false : nil)
        guard !refused.isEmpty else { return made }
        let why = "fd \(saved.fd): socket options not set again: \(refused.joined(separator: ", "))"
        return .socketWithWarning(fd, [earlier, why].compactMap { $0 }.joined(separator: "; "))
    }

    func remember(_ inode: UInt64, _ fd: Int32) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        made[inode] = fd
    }

    /// Our descriptor for the socket of this inode, once made.
    func madeSocket(_ inode: UInt64) -> Int32? { made[inode] }

    /// Whether the socket of this inode is made already.
    func isMade(_ inode: UInt64) -> Bool { made[inode] != nil }

    /// A socket address for messages: a path, @abstract, or ip:port.
    func describe(_ a: [UInt8]) -> String { SocketAddress.describe(a) }

    /// Every socket exists: connections leave repair mode.
    func settle() throws -> [String] {
        let refills = deferredRefills
        deferredRefills = []
        let warnings = try refills.compactMap { try $0() }
        return warnings + resumeConnections()
    }

    func close() {
        detachedNames.finish()
        deferredRefills = []
        for fd in made.values { Glibc.close(fd) }
        made.removeAll()
    }
}
