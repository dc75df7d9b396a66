/// A NUMA memory policy (set_mempolicy for a thread, mbind for a mapping):
/// the mode with its flags as get_mempolicy gives them, and the node mask.
/// Stored as one u64 array: mode, then the mask's 64-bit words (trailing
/// zero words left out).
public struct MemoryPolicy: Equatable, Sendable {
    /// MPOL_* (0 default ... 6 weighted interleave) | MPOL_F_* (bits 13-15).
    public var mode: UInt64
    /// Node n at bit n % 64 of word n / 64.
    public var nodes: [UInt64]

    public init(mode: UInt64, nodes: [UInt64]) {
        self.mode = mode
        var n = nodes
        while n.last == 0 { n.removeLast() }
        self.nodes = n
    }

    /// Most node-mask words kept (960 nodes, what the checkpoint asks for).
    public static let maxWords = 15
    static let flagBits: UInt64 = 0xe000

    public var encoded: [UInt64] { [mode] + nodes }

    /// nil for an empty array (the default policy); throws on values no kernel takes.
    static func decode(_ values: [UInt64], what: String, offset: UInt64) throws -> MemoryPolicy? {
        guard let mode = values.first else { return nil }
        let nodes = Array(values.dropFirst())
        guard mode & ~flagBits <= 6, nodes.count <= maxWords else {
            throw ImageError.malformed(what: "\(what): memory policy mode 0x\(String(mode, radix: 16)) with \(nodes.count) node words", offset: offset)
        }
        return MemoryPolicy(mode: mode, nodes: nodes)
    }
}
