import Glibc

/// The TUN/TAP devices of a network namespace, from one RTM_GETLINK dump
/// (rtnetlink): a device of kind "tun" carries its type, flags, owner and
/// group in IFLA_INFO_DATA (drivers/net/tun.c, tun_fill_info, since 4.15),
/// and like any link its index, MTU, address and up flag. Persistent
/// devices that no file holds are found this way too.
public struct TunLink: Equatable, Sendable {
    public var name: String
    public var index: Int32
    /// TUNSETIFF flags: IFF_TUN or IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE, and IFF_PERSIST.
    public var flags: UInt32
    /// -1: none (anyone with CAP_NET_ADMIN may attach).
    public var owner: Int64
    public var group: Int64
    public var mtu: UInt32
    /// The hardware address (a TAP device's Ethernet address; empty for TUN).
    public var address: [UInt8]
    public var up: Bool
}

public enum TunLinks {
    public static let tun: UInt32 = 0x0001, tap: UInt32 = 0x0002, noPI: UInt32 = 0x1000, vnetHeader: UInt32 = 0x4000
    public static let multiQueue: UInt32 = 0x0100, persist: UInt32 = 0x0800, detachQueue: UInt32 = 0x0400
    /// The flags TUNSETIFF takes back (the device's kind and features).
    public static let deviceFlags: UInt32 = tun | tap | noPI | vnetHeader | multiQueue
    /// ioctls of /dev/net/tun (linux/if_tun.h) and of sockets (linux/sockios.h).
    public static let setIff: UInt64 = 0x4004_54ca, setPersist: UInt64 = 0x4004_54cb, setOwner: UInt64 = 0x4004_54cc
    public static let setGroup: UInt64 = 0x4004_54ce, getIff: UInt64 = 0x8004_54d2, setQueue: UInt64 = 0x4004_54d9
    public static let setIfIndex: UInt64 = 0x4004_54da
    public static let setHardwareAddress: UInt64 = 0x8924, setMTU: UInt64 = 0x8922, getFlags: UInt64 = 0x8913, setFlags: UInt64 = 0x8914

    /// Every TUN/TAP device of the namespace `netlink` answers for.
    public static func all(netlink: NetlinkSource = .here) throws -> [TunLink] {
        try NetLinks.all(netlink: netlink).compactMap(\.tun)
    }

    /// IFLA_TUN_* (linux/if_link.h): owner, group, type, pi, vnet_hdr, persist, multi_queue.
    static func tunData(_ b: [UInt8], _ range: Range<Int>, into link: inout TunLink) {
        attributes(b, range) { type, value in
            let u8 = value.isEmpty ? 0 : b[value.lowerBound]
            switch type {
            case 1 where value.count >= 4: link.owner = Int64(Int32(bitPattern: UnixSocketDiag.get32(b, value.lowerBound)))
            case 2 where value.count >= 4: link.group = Int64(Int32(bitPattern: UnixSocketDiag.get32(b, value.lowerBound)))
            case 3: link.flags |= UInt32(u8) & (tun | tap)
            case 4 where u8 == 0: link.flags |= noPI   // IFLA_TUN_PI: 1 when packet information is on
            case 5 where u8 != 0: link.flags |= vnetHeader
            case 6 where u8 != 0: link.flags |= persist
            case 7 where u8 != 0: link.flags |= multiQueue
            default: break
            }
        }
        if link.owner < 0 { link.owner = -1 }
        if link.group < 0 { link.group = -1 }
    }

    /// Calls `body(type, value range)` for each rtattr in `range` (NLA_F_NESTED and the byte-order bit cleared).
    static func attributes(_ b: [UInt8], _ range: Range<Int>, _ body: (UInt16, Range<Int>) -> Void) {
        var at = range.lowerBound
        while at + 4 <= range.upperBound {
            let length = Int(UnixSocketDiag.get16(b, at)), type = UnixSocketDiag.get16(b, at + 2) & 0x3fff
            guard length >= 4, at + length <= range.upperBound else { return }
            body(type, (at + 4)..<(at + length))
            at += (length + 3) & ~3
        }
    }
}
