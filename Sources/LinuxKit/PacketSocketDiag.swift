/// What packet_diag says of one AF_PACKET socket.
public struct PacketSocketInfo: Equatable, Sendable {
    public var inode: UInt64
    public var type: Int32
    /// Host order.
    public var `protocol`: UInt16
    /// packet_diag_info: ifindex, version, reserve, copy_thresh, tstamp, flags.
    public var interface: UInt32 = 0, version: UInt32 = 0, reserve: UInt32 = 0, copyThreshold: UInt32 = 0, timestamp: UInt32 = 0, flags: UInt32 = 0
    /// packet_diag_mclist entries: ifindex, type, count, address.
    public var memberships: [(interface: UInt32, type: UInt16, count: UInt32, address: [UInt8])] = []
    /// packet_diag_ring: block size, block count, frame size, frame count, retire timeout, private size, features.
    public var receiveRing: [UInt32] = [], transmitRing: [UInt32] = []
    public var fanout: UInt32? = nil

    public static func == (a: PacketSocketInfo, b: PacketSocketInfo) -> Bool {
        a.inode == b.inode && a.type == b.type && a.protocol == b.protocol && a.interface == b.interface && a.version == b.version
            && a.flags == b.flags && a.receiveRing == b.receiveRing && a.transmitRing == b.transmitRing && a.fanout == b.fanout
            && a.memberships.map { [$0.interface, UInt32($0.type), $0.count] } == b.memberships.map { [$0.interface, UInt32($0.type), $0.count] }
    }
}

public enum PacketSocketDiag {
    /// Every AF_PACKET socket of the caller's network namespace, by inode.
    public static func all(netlink: NetlinkSource = .here) throws -> [UInt64: PacketSocketInfo] {
        // packet_diag_req (20 bytes): family, protocol, pad, inode, what to show (info, mclist, rings, fanout), cookie.
        var request = [UInt8](repeating: 0, count: 20)
        request[0] = 17  // AF_PACKET
        UnixSocketDiag.put32(&request, 8, 0x1 | 0x2 | 0x4 | 0x8)
        var result: [UInt64: PacketSocketInfo] = [:]
        try SockDiag.dump(request, netlink: netlink) { b, range in
            if let info = parse(b, from: range.lowerBound, to: range.upperBound) { result[info.inode] = info }
        }
        return result
    }

    /// packet_diag_msg (16 bytes: family, type, protocol in host order, inode, cookie) then attributes.
    static func parse(_ b: [UInt8], from start: Int, to end: Int) -> PacketSocketInfo? {
        guard end - start >= 16 else { return nil }
        let get32 = UnixSocketDiag.get32, get16 = UnixSocketDiag.get16
        var info = PacketSocketInfo(inode: UInt64(get32(b, start + 4)), type: Int32(b[start + 1]), protocol: get16(b, start + 2))
        var at = start + 16
        func ring(_ p: Range<Int>) -> [UInt32] { p.count >= 28 ? (0..<7).map { get32(b, p.lowerBound + 4 * $0) } : [] }
        while at + 4 <= end {
            let length = Int(get16(b, at)), type = get16(b, at + 2)
            guard length >= 4, at + length <= end else { break }
            let p = (at + 4)..<(at + length)
            switch type {
            case 0 where p.count >= 24:  // PACKET_DIAG_INFO
                (info.interface, info.version, info.reserve) = (get32(b, p.lowerBound), get32(b, p.lowerBound + 4), get32(b, p.lowerBound + 8))
                (info.copyThreshold, info.timestamp, info.flags) = (get32(b, p.lowerBound + 12), get32(b, p.lowerBound + 16), get32(b, p.lowerBound + 20))
            case 1:  // PACKET_DIAG_MCLIST: 44-byte entries
                for e in stride(from: p.lowerBound, to: p.upperBound - 43, by: 44) {
                    let alen = min(Int(get16(b, e + 10)), 32)
                    info.memberships.append((get32(b, e), get16(b, e + 8), get32(b, e + 4), Array(b[(e + 12)..<(e + 12 + alen)])))
                }
            case 2: info.receiveRing = ring(p)
            case 3: info.transmitRing = ring(p)
            case 4 where p.count >= 4: info.fanout = get32(b, p.lowerBound)
            default: break
            }
            at += (length + 3) & ~3
        }
        return info
    }
}
