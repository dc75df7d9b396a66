import CheckpointImage
import Glibc
import LinuxKit

/// AF_PACKET sockets (CAP_NET_RAW): type, protocol, bound interface, the
/// options packet_diag reports, memberships, rings and fanout group. At
/// restart the restorer makes the socket (once, however many processes
/// share it) and sets them again in that order; a ring the process had
/// mapped is mapped again at its address once the process's files are
/// back (the frames in it are not kept).
enum PacketSockets: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.packetSocket]
    static var followsForkSharing: Bool { false }

    /// Claimed through `Sockets`, which knows the family.
    static func claims(_ d: OpenDescriptor) -> Bool { false }
    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {}

    static func describe(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        guard let info = try context.shared.packetSockets.all()[d.inode] else {
            context.warn("fd \(d.fd) (\(d.link)): packet_diag does not list this packet socket; it will be closed after restart")
            return
        }
        var r = PacketSocketRecord(type: UInt64(info.type), protocol: UInt64(info.protocol))
        (r.interface, r.version, r.reserve) = (UInt64(info.interface), UInt64(info.version), UInt64(info.reserve))
        (r.copyThreshold, r.timestamp, r.flags) = (UInt64(info.copyThreshold), UInt64(info.timestamp), UInt64(info.flags))
        r.memberships = info.memberships.map { .init(interface: UInt64($0.interface), type: UInt64($0.type), count: UInt64($0.count), address: $0.address) }
        (r.receiveRing, r.transmitRing) = (info.receiveRing.map { UInt64($0) }, info.transmitRing.map { UInt64($0) })
        r.fanout = info.fanout.map { UInt64($0) }
        state.kind = .packetSocket
        state.payload = .packetSocket(r)
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        try Sockets.deliver(f, in: c)
    }

    static func describe(_ f: FileDescriptorState) -> String {
        guard let r = f.packetSocket else { return "" }
        return " protocol 0x\(String(r.protocol, radix: 16)) interface \(r.interface)\(r.receiveRing.isEmpty && r.transmitRing.isEmpty ? "" : " ring")"
    }

    /// The restorer's socket, options set in the order the kernel needs
    /// (version before rings, bind before fanout); what it refuses is said.
    static func make(_ f: FileDescriptorState, _ r: PacketSocketRecord) throws -> SocketFactory.Made {
        let fd = Glibc.socket(AF_PACKET, Int32(truncatingIfNeeded: r.type) | Int32(SOCK_CLOEXEC.rawValue), Int32(UInt16(r.protocol).bigEndian))
        guard fd >= 0 else { return .closed("fd \(f.fd): a packet socket cannot be made again here (\(errorText(errno))); it is closed") }
        var refused: [String] = []
        func set(_ name: Int32, _ what: String, _ bytes: [UInt8]) {
            let ok = bytes.withUnsafeBytes { setsockopt(fd, 263, name, $0.baseAddress, socklen_t($0.count)) } == 0  // SOL_PACKET
            if !ok { refused.append("\(what) (\(errorText(errno)))") }
        }
        func int(_ v: UInt64) -> [UInt8] { bytes(of: Int32(truncatingIfNeeded: v)) }
        if r.version != 0 { set(10, "PACKET_VERSION", int(r.version)) }
        if r.reserve != 0 { set(12, "PACKET_RESERVE", int(r.reserve)) }
        if r.copyThreshold != 0 { set(7, "PACKET_COPY_THRESH", int(r.copyThreshold)) }
        if r.timestamp != 0 { set(17, "PACKET_TIMESTAMP", int(r.timestamp)) }
        for (bit, name, what) in [(2, 8, "PACKET_AUXDATA"), (4, 9, "PACKET_ORIGDEV"), (8, 15, "PACKET_VNET_HDR"), (16, 14, "PACKET_LOSS")] as [(UInt64, Int32, String)]
        where r.flags & bit != 0 { set(name, what, int(1)) }
        if r.interface != 0 {
            var address: [UInt8]
            if r.type == 10 {
                // SOCK_PACKET binds by device name, in exactly a struct sockaddr: family, 14 bytes of name.
                var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE))
                _ = if_indextoname(UInt32(truncatingIfNeeded: r.interface), &name)
                address = bytes(of: UInt16(AF_PACKET)) + name.prefix(13).map { UInt8(bitPattern: $0) }
                address += [UInt8](repeating: 0, count: 16 - address.count)
            } else {
                // struct sockaddr_ll: family, protocol (network order), ifindex, then unused here.
                address = bytes(of: UInt16(AF_PACKET)) + bytes(of: UInt16(r.protocol).bigEndian) + int(r.interface)
                address += [UInt8](repeating: 0, count: 20 - address.count)
            }
            let bound = address.withUnsafeBytes { Glibc.bind(fd, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) } == 0
            if !bound { refused.append("bind to interface \(r.interface) (\(errorText(errno)))") }
        }
        for m in r.memberships {
            // struct packet_mreq: ifindex, type, address length, 8 address bytes.
            let address = Array(m.address.prefix(8))
            let mreq = int(m.interface) + bytes(of: UInt16(m.type)) + bytes(of: UInt16(address.count)) + address + [UInt8](repeating: 0, count: 8 - address.count)
            for _ in 0..<max(m.count, 1) { set(1, "membership on interface \(m.interface)", mreq) }
        }
        if r.receiveRing.count == 7 { set(5, "PACKET_RX_RING", r.receiveRing.flatMap { bytes(of: UInt32($0)) }) }
        if r.transmitRing.count == 7 { set(13, "PACKET_TX_RING", r.transmitRing.flatMap { bytes(of: UInt32($0)) }) }
        if let fanout = r.fanout { set(18, "PACKET_FANOUT", int(fanout)) }
        return refused.isEmpty ? .socket(fd) : .socketWithWarning(fd, "fd \(f.fd): packet socket settings not set again: \(refused.joined(separator: ", "))")
    }

    /// Rings the process had mapped, mapped again from its descriptor for the socket.
    static func mapRings(_ process: ProcessState, in c: FileRestoreContext) throws {
        for m in process.mappings where m.kind == .packetRing {
            guard let f = process.files.first(where: { $0.inode == m.inode && $0.kind == .packetSocket && !$0.inFlight }) else {
                c.warn("the ring mapped at 0x\(String(m.start, radix: 16)) belongs to a socket the process no longer holds; it is not mapped again")
                continue
            }
            let flags = UInt64(MAP_FIXED) | (m.shared ? UInt64(MAP_SHARED) : UInt64(MAP_PRIVATE))
            do {
                try c.session.mmap(m.start, m.length, protection: UInt64(m.protection), flags: flags, fd: UInt64(f.fd), offset: m.offset, what: "packet ring")
            } catch {
                c.warn("fd \(f.fd): its ring could not be mapped again at 0x\(String(m.start, radix: 16)): \(error)")
            }
        }
    }
}
