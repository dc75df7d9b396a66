/// A System V IPC object the checkpointed processes used: a shared memory
/// segment they had attached, or a semaphore set or message queue they
/// operated on last. Kept in the first PROCESS record of the image (tag 27).
public struct SysVObject: Equatable, Sendable {
    public enum Kind: UInt64, Sendable { case sharedMemory = 1, semaphores = 2, messageQueue = 3 }
    public var kind: Kind
    public var key: Int32
    public var id: Int32
    /// Permission bits, plus SHM_DEST (0o1000) for a segment removed while still attached.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// Segment size in bytes, or number of semaphores.
    public var size: UInt64
    /// Semaphore values.
    public var values: [UInt64] = []
    /// Queued messages: type and text, oldest first.
    public var messages: [(type: Int64, text: [UInt8])] = []
    /// Since 2026-12-04: the IPC namespace it lives in, 1-based (as
    /// ProcessState.ipcNamespace); 0: the checkpointer's.
    public var namespace = 0

    public init(kind: Kind, key: Int32, id: Int32, mode: UInt32, uid: UInt32, gid: UInt32, size: UInt64) {
        self.kind = kind; self.key = key; self.id = id; self.mode = mode; self.uid = uid; self.gid = gid; self.size = size
    }

    public static func == (a: SysVObject, b: SysVObject) -> Bool {
        a.kind == b.kind && a.key == b.key && a.id == b.id && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid
            && a.size == b.size && a.values == b.values && a.messages.map(\.type) == b.messages.map(\.type)
            && a.messages.map(\.text) == b.messages.map(\.text) && a.namespace == b.namespace
    }

    /// Numbered by hand: a tag's number is the format, never its position here.
    enum Tag: UInt16, CaseIterable {
        case kind = 1, key = 2, id = 3, mode = 4, uid = 5, gid = 6, size = 7
        case values = 8, message = 9, namespace = 10
    }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.kind.rawValue, kind.rawValue)
        e.i64(Tag.key.rawValue, Int64(key))
        e.i64(Tag.id.rawValue, Int64(id))
        e.u64(Tag.mode.rawValue, UInt64(mode))
        e.u64(Tag.uid.rawValue, UInt64(uid))
        e.u64(Tag.gid.rawValue, UInt64(gid))
        e.u64(Tag.size.rawValue, size)
        if !values.isEmpty { e.u64s(Tag.values.rawValue, values) }
        for m in messages { e.raw(Tag.message.rawValue, withUnsafeBytes(of: m.type.littleEndian) { Array($0) } + m.text) }
        if namespace != 0 { e.u64(Tag.namespace.rawValue, UInt64(namespace)) }
    }

    init(decoding d: RecordDecoder) throws {
        guard let k = Kind(rawValue: try d.u64(Tag.kind.rawValue, "SysV kind")) else {
            throw ImageError.malformed(what: "unknown SysV IPC kind", offset: d.base)
        }
        kind = k
        key = Int32(truncatingIfNeeded: try d.i64(Tag.key.rawValue, "SysV key"))
        id = try d.i32(Tag.id.rawValue, "SysV id")
        mode = UInt32(truncatingIfNeeded: try d.u64(Tag.mode.rawValue, "SysV mode")) & 0o7777
        uid = UInt32(truncatingIfNeeded: try d.u64(Tag.uid.rawValue, default: 0))
        gid = UInt32(truncatingIfNeeded: try d.u64(Tag.gid.rawValue, default: 0))
        size = try d.u64(Tag.size.rawValue, "SysV size")
        values = try d.u64s(Tag.values.rawValue)
        for f in d.fields where f.tag == Tag.message.rawValue {
            guard f.range.count >= 8 else { throw ImageError.malformed(what: "SysV message shorter than its type", offset: d.offset(of: f.range)) }
            var t: UInt64 = 0
            for k in 0..<8 { t |= UInt64(d.bytes[f.range.lowerBound + k]) << (8 * UInt64(k)) }
            messages.append((Int64(bitPattern: t), Array(d.bytes[(f.range.lowerBound + 8)..<f.range.upperBound])))
        }
        let namespace = try d.u64(Tag.namespace.rawValue, default: 0)
        guard namespace < 1 << 20 else { throw ImageError.malformed(what: "SysV object \(id): IPC namespace \(namespace)", offset: d.base) }
        self.namespace = Int(namespace)
        guard id >= 0, size < 1 << 40, kind != .semaphores || (values.count == Int(size) && size <= 32000) else {
            throw ImageError.malformed(what: "SysV object \(id): size \(size), \(values.count) values", offset: d.base)
        }
    }
}
