import Glibc
import SystemPackage

/// A TCP connection's incoming segments dropped by nftables while its
/// socket does not exist: from a checkpoint that kills its process until
/// the restart has made the connection again. Without it a segment of the
/// peer (a window probe, a retransmission) reaches a port with no socket,
/// the kernel answers with a reset, and the peer's end is gone before the
/// restart (zdtm socket-tcpbuf). CRIU's network lock does this with
/// iptables or nftables rules; here one nftables table per connection,
/// named after its two addresses, so that the restart finds it without
/// anything else in the image. Spoken to the kernel over NETLINK_NETFILTER
/// (needs CAP_NET_ADMIN over the network namespace).
public enum ConnectionLock {
    /// The table of the connection from `local` to `peer` (sockaddr bytes as getsockname gives them).
    public static func tableName(local: [UInt8], peer: [UInt8]) -> String {
        // Of the ports and addresses only: the sockaddr's length and padding may differ between its readers.
        let ends = [InetEndpoint(local), InetEndpoint(peer)].map { e in e.map { $0.portBytes + $0.ip } ?? [] }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for b in ends[0] + [0xff] + ends[1] {
            hash ^= UInt64(b)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "swiftcr-lock-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Makes the connection's table: a chain on the input hook that drops
    /// the segments from `peer` to `local`. Fails (EAFNOSUPPORT) on addresses it cannot match.
    public static func lock(local: [UInt8], peer: [UInt8], netlink: NetlinkSource = .here) throws {
        guard let from = InetEndpoint(peer), let to = InetEndpoint(local), from.ip.count == to.ip.count else {
            throw SystemCallError("nftables lock of \(local) -> \(peer)", Errno(rawValue: EAFNOSUPPORT))
        }
        let table = tableName(local: local, peer: peer)
        var batch = NFBatch()
        batch.add(.newTable, flags: create, [.string(1, table)])                        // NFTA_TABLE_NAME
        batch.add(.newChain, flags: create, [
            .string(1, table), .string(3, "input"),                                     // NFTA_CHAIN_TABLE, _NAME
            .nested(4, [.u32(1, 1), .u32(2, 0)]),                                       // NFTA_CHAIN_HOOK: NF_INET_LOCAL_IN, priority 0
            .u32(5, 1), .string(7, "filter"),                                           // NFTA_CHAIN_POLICY accept, NFTA_CHAIN_TYPE
        ])
        let family: UInt8 = from.ip.count == 4 ? 2 : 10                                 // NFPROTO_IPV4, _IPV6
        let (source, destination): (UInt32, UInt32) = from.ip.count == 4 ? (12, 16) : (8, 24)
        let length = UInt32(from.ip.count)
        batch.add(.newRule, flags: create | 0x800, [                                    // NLM_F_APPEND
            .string(1, table), .string(2, "input"),                                     // NFTA_RULE_TABLE, _CHAIN
            .nested(4, [                                                                // NFTA_RULE_EXPRESSIONS
                meta(15), equal([family]),                                              // NFT_META_NFPROTO (one byte)
                meta(16), equal([6]),                                                   // NFT_META_L4PROTO: TCP
                payload(network: true, offset: source, length: length), equal(from.ip),
                payload(network: true, offset: destination, length: length), equal(to.ip),
                payload(network: false, offset: 0, length: 2), equal(from.portBytes),
                payload(network: false, offset: 2, length: 2), equal(to.portBytes),
                expression("immediate", [.u32(1, 0), .nested(2, [.nested(2, [.u32(1, 0)])])]),  // verdict NF_DROP
            ]),
        ])
        try batch.send(netlink)
    }

    /// Removes the connection's table; false if there was none.
    @discardableResult
    public static func unlock(local: [UInt8], peer: [UInt8], netlink: NetlinkSource = .here) throws -> Bool {
        var batch = NFBatch()
        batch.add(.deleteTable, flags: 0, [.string(1, tableName(local: local, peer: peer))])
        do {
            try batch.send(netlink)
            return true
        } catch let e as SystemCallError where e.errno == .noSuchFileOrDirectory {
            return false
        }
    }

    private static let create: UInt16 = 0x400  // NLM_F_CREATE

    private static func expression(_ name: String, _ data: [NFAttribute]) -> NFAttribute {
        .nested(1, [.string(1, name), .nested(2, data)])                                // NFTA_LIST_ELEM: NFTA_EXPR_NAME, _DATA
    }
    /// Loads a meta key into register 1.
    private static func meta(_ key: UInt32) -> NFAttribute { expression("meta", [.u32(1, 1), .u32(2, key)]) }
    /// Loads header bytes into register 1.
    private static func payload(network: Bool, offset: UInt32, length: UInt32) -> NFAttribute {
        expression("payload", [.u32(1, 1), .u32(2, network ? 1 : 2), .u32(3, offset), .u32(4, length)])
    }
    /// Register 1 equal to `value`, or the rule ends here.
    private static func equal(_ value: [UInt8]) -> NFAttribute {
        expression("cmp", [.u32(1, 1), .u32(2, 0), .nested(3, [.bytes(1, value)])])
    }
}

/// A netlink attribute of an nftables message (u32 values big-endian, as nftables wants them).
enum NFAttribute {
    case string(UInt16, String)
    case u32(UInt16, UInt32)
    case bytes(UInt16, [UInt8])
    indirect case nested(UInt16, [NFAttribute])

    func encode(into out: inout [UInt8]) {
        let start = out.count
        out += [0, 0, 0, 0]
        let type: UInt16
        switch self {
        case .string(let t, let s): type = t; out += Array(s.utf8) + [0]
        case .u32(let t, let v): type = t; out += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
        case .bytes(let t, let b): type = t; out += b
        case .nested(let t, let list): type = t | 0x8000; for a in list { a.encode(into: &out) }  // NLA_F_NESTED
        }
        let length = UInt16(out.count - start)
        out[start] = UInt8(length & 0xff); out[start + 1] = UInt8(length >> 8)
        out[start + 2] = UInt8(type & 0xff); out[start + 3] = UInt8(type >> 8)
        while out.count % 4 != 0 { out.append(0) }
    }
}

/// One nftables transaction: messages between a batch begin and end, each
/// acknowledged; the kernel applies all of them or none.
struct NFBatch {
    enum Message: UInt16 { case newTable = 0, deleteTable = 2, newChain = 3, newRule = 6 }
    private var bytes: [UInt8] = []
    private var sequence: UInt32 = 1
    private var messages: [(type: UInt16, flags: UInt16, family: UInt8, resource: UInt16, body: [UInt8])] = []

    mutating func add(_ m: Message, flags: UInt16, _ attributes: [NFAttribute]) {
        var body: [UInt8] = []
        for a in attributes { a.encode(into: &body) }
        messages.append((10 << 8 | m.rawValue, 0x1 | 0x4 | flags, 1, 0, body))  // NFNL_SUBSYS_NFTABLES; REQUEST|ACK; NFPROTO_INET
    }

    /// Sends the batch and waits for every acknowledgement; the first error is thrown.
    func send(_ netlink: NetlinkSource) throws {
        var out: [UInt8] = []
        func put(_ type: UInt16, _ flags: UInt16, _ seq: UInt32, _ family: UInt8, _ resource: UInt16, _ body: [UInt8]) {
            let length = 16 + 4 + body.count
            var h = [UInt8](repeating: 0, count: 20)
            UnixSocketDiag.put32(&h, 0, UInt32(length))
            UnixSocketDiag.put16(&h, 4, type)
            UnixSocketDiag.put16(&h, 6, flags)
            UnixSocketDiag.put32(&h, 8, seq)
            h[16] = family                                  // struct nfgenmsg: family, version 0, res_id (big-endian)
            h[18] = UInt8(resource >> 8); h[19] = UInt8(resource & 0xff)
            out += h + body
            while out.count % 4 != 0 { out.append(0) }
        }
        put(0x10, 0x1, 0, 0, 10, [])                        // NFNL_MSG_BATCH_BEGIN, res_id NFNL_SUBSYS_NFTABLES
        for (k, m) in messages.enumerated() { put(m.type, m.flags, UInt32(k + 1), m.family, m.resource, m.body) }
        put(0x11, 0x1, UInt32(messages.count + 1), 0, 10, [])  // NFNL_MSG_BATCH_END
        let sock = try netlink.socket(protocol: 12)         // NETLINK_NETFILTER
        defer { close(sock) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let sent = out.withUnsafeBytes { Glibc.send(sock, $0.baseAddress, $0.count, 0) }
        guard sent == out.count else { throw SystemCallError("sendto(NETLINK_NETFILTER)", Errno(rawValue: errno)) }
        // One NLMSG_ERROR a message (code 0: done); an error may end the batch early.
        var acknowledged = 0
        var reply = [UInt8](repeating: 0, count: 8192)
        while acknowledged < messages.count {
            let n = reply.withUnsafeMutableBytes { recv(sock, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw SystemCallError("recv(NETLINK_NETFILTER)", Errno(rawValue: n < 0 ? errno : EPROTO)) }
            var at = 0
            while at + 20 <= n {
                let length = Int(UnixSocketDiag.get32(reply, at))
                guard length >= 16, at + length <= n else { break }
                if UnixSocketDiag.get16(reply, at + 4) == 2 {  // NLMSG_ERROR
                    let code = Int32(bitPattern: UnixSocketDiag.get32(reply, at + 16))
                    if code != 0 { throw SystemCallError("nftables", Errno(rawValue: -code)) }
                    acknowledged += 1
                }
                at += (length + 3) & ~3
            }
        }
    }
}
