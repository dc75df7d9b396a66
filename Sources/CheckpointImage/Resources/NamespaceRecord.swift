/// A descriptor of a namespace (/proc/PID/ns/TYPE opened): which type, and
/// which process of the image was in it (0: none was).
public struct NamespaceRecord: DescriptorPayloadRecord {
    /// net, mnt, pid, uts, ipc, user, cgroup, time...
    public var type: String
    public var holder: Int64

    public init(type: String, holder: Int64) { self.type = type; self.holder = holder }

    enum Tag: UInt16, CaseIterable { case type = 1, holder = 2 }

    func encode(into e: inout RecordEncoder) {
        e.string(Tag.type.rawValue, type)
        e.i64(Tag.holder.rawValue, holder)
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        type = d.string(Tag.type.rawValue) ?? ""
        holder = Int64(bitPattern: try d.u64(Tag.holder.rawValue, default: 0))
        guard !type.isEmpty, type.utf8.count <= 32, type.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || $0 == 95 }),
              (0...Int64(Int32.max)).contains(holder) else {
            throw ImageError.malformed(what: "namespace fd \(fd): type \"\(type)\", holder \(holder)", offset: d.base)
        }
    }

    /// Kind 20 is new in 1.3: no image before it has one.
    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        throw ImageError.malformed(what: "namespace fd \(fd) without its record", offset: legacy.base)
    }
}
