import CheckpointImage
import Glibc
import LinuxKit

/// Silences the tree's TCP connections before any of them is read, the
/// job CRIU gives iptables: each socket gets a socket filter that drops
/// every segment it receives. Without it a socket already read goes on
/// taking ACKs and data from a peer not yet read; an ACK that opens the
/// window makes a socket in repair mode count bytes as sent and its
/// retransmit timer then really sends them, so the peer's image held bytes
/// the sender's image called unsent, and after the restart each end
/// dropped the other's segments forever (zdtm socket-tcpbuf6-local).
/// Dropped segments are simply sent again by the restored connection.
///
/// Only a checkpoint that kills its targets locks (their sockets never run
/// again); any failure takes the filters off again.
final class TCPNetworkLock {
    /// Our copies of the locked sockets, by inode.
    private var locked: [UInt64: Int32] = [:]
    /// Each locked connection's addresses and a process that holds it (its network namespace).
    private var connections: [(pid: pid_t, local: [UInt8], peer: [UInt8])] = []
    /// Every TCP socket of the tree with two ends (also ended ones), by ConnectionLock.tableName.
    private var treeEnds: Set<String> = []

    /// classic BPF `ret #0`: keep no byte of any packet.
    private static let dropAll: [UInt8] = [0x06, 0, 0, 0, 0, 0, 0, 0]
    private static let attachFilter: Int32 = 26, detachFilter: Int32 = 27

    /// Locks every TCP connection the frozen processes `pids` hold that has
    /// no filter of its own (one with a filter is read as before).
    func lock(_ pids: [pid_t]) {
        for pid in pids {
            let borrower = SocketBorrower(pid: pid)
            for fd in (try? Sys.numericEntries("/proc/\(pid)/fd")) ?? [] {
                var st = stat()
                guard stat("/proc/\(pid)/fd/\(fd)", &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK,
                      locked[UInt64(st.st_ino)] == nil, let copy = try? borrower.borrow(fd) else { continue }
                let ends = Self.streamEnds(copy)
                if let ends { treeEnds.insert(ConnectionLock.tableName(local: ends.local, peer: ends.peer)) }
                if Self.isConnection(copy), Self.attachDropFilter(copy) {
                    locked[UInt64(st.st_ino)] = copy
                    if let ends { connections.append((pid, ends.local, ends.peer)) }
                } else {
                    close(copy)
                }
            }
        }
    }

    /// The processes are about to be killed: their connections' segments
    /// are dropped by nftables from now until the restart has made them
    /// again (ConnectionLock; the socket filters go with the sockets).
    /// A connection whose other end is in the tree too (also one the
    /// peer reset or ended) is left alone: nobody sends on it until the
    /// restart, which makes both ends again, and a lock would drop what one
    /// restored end sends the other (a reset included: zdtm socket-tcp-reseted).
    /// Returns warnings; a user, who cannot save connections, locks none.
    func keepPastKill() -> [String] {
        let ours = try? Sys.readLink("/proc/self/ns/net")
        var warnings: [String] = []
        for c in connections where !treeEnds.contains(ConnectionLock.tableName(local: c.peer, peer: c.local)) {
            let netlink: NetlinkSource = (try? Sys.readLink("/proc/\(c.pid)/ns/net")) == ours ? .here : .of(c.pid)
            do {
                try ConnectionLock.lock(local: c.local, peer: c.peer, netlink: netlink)
            } catch let e as SystemCallError where e.errno == .notPermitted {
                continue
            } catch {
                warnings.append("TCP connection \(SocketAddress.describe(c.local)) -> \(SocketAddress.describe(c.peer)): its segments are not held back until the restart (\(error)); the peer may reset it meanwhile")
            }
        }
        return warnings
    }

    /// A TCP stream socket's two addresses (nil: not TCP, listening, or never connected).
    private static func streamEnds(_ fd: Int32) -> (local: [UInt8], peer: [UInt8])? {
        let family = SocketBorrower.option(fd, SO_DOMAIN)
        guard family == AF_INET || family == AF_INET6, SocketBorrower.option(fd, SO_TYPE) == Int32(SOCK_STREAM.rawValue),
              SocketBorrower.option(fd, SO_PROTOCOL) == Int32(IPPROTO_TCP), SocketBorrower.option(fd, SO_ACCEPTCONN) != 1 else { return nil }
        let local = SocketBorrower.name(fd, getsockname), peer = SocketBorrower.streamPeer(fd, family: family)
        return local.isEmpty || peer.isEmpty ? nil : (local, peer)
    }

    /// The filter on this socket is ours, not the program's.
    func holds(inode: UInt64) -> Bool { locked[inode] != nil }

    /// Takes the filters off (the checkpoint failed or leaves its targets
    /// running), or only lets go of the copies (the targets are killed).
    func finish(unlock: Bool) {
        for copy in locked.values {
            // setsockopt wants an int's length even for an option that takes no value.
            var unused: Int32 = 0
            if unlock { _ = setsockopt(copy, SOL_SOCKET, Self.detachFilter, &unused, 4) }
            close(copy)
        }
        locked = [:]
        connections = []
        treeEnds = []
    }

    private static func isConnection(_ fd: Int32) -> Bool {
        let family = SocketBorrower.option(fd, SO_DOMAIN)
        guard family == AF_INET || family == AF_INET6, SocketBorrower.option(fd, SO_TYPE) == Int32(SOCK_STREAM.rawValue),
              SocketBorrower.option(fd, SO_PROTOCOL) == Int32(IPPROTO_TCP) else { return false }
        return TCPRepair.repairable.contains(TCPRepair.state(fd))
    }

    /// False where the socket has a filter already (or a locked one).
    private static func attachDropFilter(_ fd: Int32) -> Bool {
        var count = socklen_t(0)
        guard getsockopt(fd, SOL_SOCKET, attachFilter, nil, &count) == 0, count == 0 else { return false }
        let filter = FileDescriptorState.SocketOption(level: SOL_SOCKET, name: attachFilter, value: dropAll)
        return SocketOptions.apply([filter], to: fd, beforeBind: nil).isEmpty
    }
}
