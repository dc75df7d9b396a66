import CheckpointImage
import Glibc
import LinuxKit

/// Established TCP connections, saved and made again with TCP_REPAIR
/// (TCPRepair). Without CAP_NET_ADMIN only their ends are saved, and they
/// come back as connections that have ended (as all do with --tcp-close).
enum TCPConnections: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.tcpConnection]
    static var followsForkSharing: Bool { false }

    /// Claimed through `Sockets` and `InetSockets`.
    static func claims(_ d: OpenDescriptor) -> Bool { false }
    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {}

    static func describe(_ d: OpenDescriptor, copy: Int32, family: Int32, local: [UInt8], peer: [UInt8],
                         into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .tcpConnection
        var record = TCPConnectionRecord(family: UInt64(family), address: local, peerAddress: peer)
        let tcpState = TCPRepair.state(copy)
        if context.shared.preDump {
            // Its ends only (DumpContext.preDump).
        } else if !TCPRepair.repairable.contains(tcpState) {
            context.warn("fd \(d.fd): TCP connection to \(SocketAddress.describe(peer)) is still being set up (state \(tcpState)) and is not saved; it comes back as a connection that has ended")
        } else if let reuse = try TCPRepair.capture(copy, into: &record) {
            context.shared.tcpRepairs.inRepair(dup(copy), reuseAddress: reuse)
        } else {
            // Its ends only: it comes back ended.
            context.warn("fd \(d.fd): TCP connection to \(SocketAddress.describe(peer)) not saved: TCP_REPAIR needs CAP_NET_ADMIN; it comes back as a connection that has ended")
        }
        state.payload = .tcpConnection(record)
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile { try Sockets.deliver(f, in: c) }

    static func describe(_ f: FileDescriptorState) -> String { Sockets.describe(f) }
}

/// TCP sockets (our copies) the checkpoint put in repair mode.
final class TCPRepairHolds {
    /// Only a checkpoint that kills its targets keeps their TCP sockets in
    /// repair mode to the end (so they close without FIN or RST); any other
    /// takes it off as soon as the state is read, so a checkpointer killed
    /// during the dump does not leave a connection in repair mode.
    let hold: Bool
    /// Each copy with its socket's SO_REUSEADDR from before repair mode.
    private var repaired: [(fd: Int32, reuseAddress: Int32)] = []

    init(hold: Bool) { self.hold = hold }

    func inRepair(_ fd: Int32, reuseAddress: Int32) {
        guard fd >= 0 else { return }
        if hold { repaired.append((fd, reuseAddress)) } else { TCPRepair.release(fd, reuseAddress: reuseAddress); close(fd) }
    }

    /// Leaves repair mode on for processes about to be killed (their sockets
    /// then close without a FIN or RST), otherwise takes it off again.
    func finish(keepOn: Bool) {
        for (fd, reuse) in repaired {
            if !keepOn { TCPRepair.release(fd, reuseAddress: reuse) }
            close(fd)
        }
        repaired = []
    }
}

extension SocketFactory {
    /// As root, the connection itself. One that cannot be made again (not
    /// saved without CAP_NET_ADMIN, or no right to repair it now) keeps its
    /// descriptor as a connection that has ended, as with --tcp-close: an
    /// empty descriptor number would be taken by the next accept, and a
    /// server would take that client for the old one (an asyncio server
    /// then refused every new client that got the number).
    func makeTCP(_ f: FileDescriptorState, _ s: TCPConnectionRecord) throws -> Made {
        let lost = "fd \(f.fd): TCP connection \(SocketAddress.describe(s.address)) -> \(SocketAddress.describe(s.peerAddress))"
        let comesBackEnded = "it comes back as a connection that has ended"
        if closeTCP { return .socket(try endedTCP(f, s)) }
        guard s.saved else {
            return .socketWithWarning(try endedTCP(f, s), "\(lost) was not saved (no CAP_NET_ADMIN at the checkpoint); \(comesBackEnded)")
        }
        do {
            let fd = try TCPRepair.rebuild(s, socketOptions: f.socketOptions, fd: f.fd) { ownedSocket(of: f.inode, $0, $1, $2) }
            remember(f.inode, fd)
            rebuilt.append((fd, f, s))
            return .socket(fd)
        } catch let e as CheckpointError where e.code == EPERM {
            return .socketWithWarning(try endedTCP(f, s), "\(e.message); \(comesBackEnded)")
        }
    }

    /// The descriptor of a connection that has ended: its two addresses
    /// (root), end of file to reads, EPIPE to writes, hung up to poll.
    private func endedTCP(_ f: FileDescriptorState, _ s: TCPConnectionRecord) throws -> Int32 {
        defer { unlock(s) }
        if let ended = try EndedConnection.rebuild(family: s.family, local: s.address, peer: s.peerAddress, options: f.socketOptions,
                                                   fd: f.fd, dropTimeWait: { dropTimeWait(on: s.address) }) {
            remember(f.inode, ended)
            return ended
        }
        let fd = try valueOrThrow("socket(TCP)") { Glibc.socket(Int32(truncatingIfNeeded: s.family), Int32(SOCK_STREAM.rawValue), Int32(IPPROTO_TCP)) }
        remember(f.inode, fd)
        // Unconnected, shut both ways (the kernel says ENOTCONN but marks it).
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
        return fd
    }
}

extension SocketFactory {
    /// The checkpoint that killed the connection's process held back its
    /// segments (ConnectionLock); it exists again, or is closed for good:
    /// they flow again. Made in the restorer's network namespace, which is
    /// the connection's; nothing to do where there is no lock (or no right to remove one).
    func unlock(_ s: TCPConnectionRecord) {
        _ = try? ConnectionLock.unlock(local: s.address, peer: s.peerAddress)
    }

    /// Every socket exists now: the rebuilt connections leave repair mode.
    /// One that cannot is a warning; the others still come back.
    func resumeConnections() -> [String] {
        var warnings: [String] = []
        for (fd, f, s) in rebuilt {
            // The lock comes off just before repair mode: the answer to the
            // window probe that leaving it sends (data, a reset) and the
            // peer's FIN the restorer sends it again must get through.
            unlock(s)
            do {
                let refused = try TCPRepair.resume(fd, s, options: f.socketOptions, fd: f.fd, warnings: &warnings)
                if !refused.isEmpty { warnings.append("fd \(f.fd): socket options not set again: \(refused.joined(separator: ", "))") }
            } catch {
                warnings.append("\(error)")
            }
        }
        rebuilt = []
        return warnings
    }
}
