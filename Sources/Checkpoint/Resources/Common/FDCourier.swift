import CheckpointImage
import Glibc
import LinuxKit

/// Hands a descriptor of ours to a stub over SCM_RIGHTS, for objects that
/// cannot be reopened through /proc/<restorer>/fd (sockets). The stub binds
/// a datagram socket to an abstract name (injected socket + bind); we send
/// to it; an injected recvmsg takes the descriptor. Abstract names need no
/// file system and work across user and PID namespaces, within one network
/// namespace: the inbox is bound again when a send finds the stub has moved
/// to another one since, and our outbox is made again in the one this
/// thread is in.
final class FDCourier {
    let session: RemoteSession
    /// The stub's receiving socket, parked at a number no restored fd uses.
    private var inbox: UInt64?
    private let parkAt: UInt64
    private let address: [UInt8]
    private var outbox: Int32 = -1
    /// The network namespace the outbox was made in.
    private var outboxNamespace: [UInt8]?

    /// Scratch offsets: sockaddr, msghdr, iovec, one data byte, control buffer.
    static let base = 16384

    init(session: RemoteSession, parkAt: UInt64) {
        self.session = session
        self.parkAt = parkAt
        address = [0] + Array("swiftcr-courier-\(getpid())-\(session.pid)".utf8)
    }

    /// Sends `fd` and returns the number the stub received it as (close-on-exec).
    func deliver(_ fd: Int32) throws -> UInt64 {
        var inbox = try openInbox()
        do { try send(fd) } catch let e as CheckpointError where e.code == ECONNREFUSED {
            // The stub moved to another network namespace since its inbox was bound.
            try session.close(inbox, what: "courier")
            self.inbox = nil
            inbox = try openInbox()
            try send(fd)
        }
        let b = Self.base
        // msghdr { name, namelen, iov, iovlen, control, controllen, flags }
        let iov = try session.put([session.scratch + UInt64(b + 256), 1].flatMap { bytes(of: $0) }, at: b + 192)
        var header = [UInt64](repeating: 0, count: 7)
        header[2] = iov; header[3] = 1
        header[4] = session.scratch + UInt64(b + 320); header[5] = 24
        let msg = try session.put(header.flatMap { bytes(of: $0) }, at: b + 128)
        _ = try session.put([UInt8](repeating: 0, count: 24), at: b + 320)
        try session.call("recvmsg(courier)", NR.recvmsg, inbox, msg, UInt64(MSG_DONTWAIT) | UInt64(MSG_CMSG_CLOEXEC))
        let control = try session.memory.read(address: session.scratch + UInt64(b + 320), count: 24)
        let level = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: Int32.self) }
        let type = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 12, as: Int32.self) }
        guard level == SOL_SOCKET, type == Int32(SCM_RIGHTS) else {
            throw CheckpointError(EPROTO, "internal: stub \(session.pid) received no descriptor")
        }
        return UInt64(control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: Int32.self) })
    }

    private func openInbox() throws -> UInt64 {
        if let i = inbox { return i }
        let s = try session.call("socket(courier)", NR.socket, UInt64(AF_UNIX), UInt64(Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)), 0)
        try session.dup3(s, to: parkAt, cloexec: true, what: "courier")
        try session.close(s)
        let addr = try session.put(sockaddr(), at: Self.base)
        try session.call("bind(courier)", NR.bind, parkAt, addr, UInt64(2 + address.count))
        inbox = parkAt
        return parkAt
    }

    private func sockaddr() -> [UInt8] { [UInt8(AF_UNIX), 0] + address }

    private func send(_ fd: Int32) throws {
        let here = try? Sys.readLink("/proc/thread-self/ns/net")
        if outbox >= 0 && here != outboxNamespace { Glibc.close(outbox); outbox = -1 }
        if outbox < 0 {
            outbox = try valueOrThrow("socket(courier)") { socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
            outboxNamespace = here
        }
        let r = UnixMessage.send([0x2a], descriptors: [fd], from: outbox, name: sockaddr())
        guard r == 1 else { throw CheckpointError(errno: errno, "sending a descriptor to stub \(session.pid)") }
    }

    /// Closes the stub's inbox and our outbox.
    func close() throws {
        if let i = inbox { try session.close(i, what: "courier") }
        inbox = nil
        if outbox >= 0 { Glibc.close(outbox) }
        outbox = -1
    }
}
