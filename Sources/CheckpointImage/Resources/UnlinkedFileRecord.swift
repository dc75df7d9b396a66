/// A regular file unlinked while open: its permission bits and owner, for
/// the file made again (its contents ride in the descriptor's `fileContents`).
public struct UnlinkedFileRecord: DescriptorPayloadRecord {
    public var mode: UInt64
    /// UInt64.max: not saved (images before 1.2), left as the restorer makes it.
    public var uid: UInt64
    public var gid: UInt64
    /// Since 1.3: the file's size and its data extents (offset, length
    /// pairs); the descriptor's `fileContents` then holds the extents'
    /// bytes one after another, and the rest of the file is holes. Empty:
    /// `fileContents` is the whole file.
    public var size: UInt64 = 0
    public var extents: [UInt64] = []
    /// Since 1.3: the file still had another name (a hard link): the
    /// kernel's handle for it (type, then the handle's bytes), so a restorer
    /// allowed to (CAP_DAC_READ_SEARCH) opens that very file again. Empty: none.
    public var handleType: Int64 = 0
    public var handle: [UInt8] = []
    /// Since 2026-12: access and modification times, nanoseconds since the
    /// epoch (tags 8, 9); nil: not saved, left as the restorer makes them.
    public var accessTime: Int64? = nil
    public var modificationTime: Int64? = nil
    /// Since 2026-12-05: another name of the file in the directory its
    /// removed one was in (tag 10), found by inode: any restorer may open
    /// that, where it is still the same file (device and inode). Nil: none found.
    public var livePath: String? = nil
    /// Since 2026-12-06: the mount namespace `livePath` is a name in (tag
    /// 11, TreeState numbering), where it was found on a tmpfs of that
    /// namespace the image saves with its files (tag 12 set): the restart's
    /// copy of the tmpfs holds the file under that name, as another inode.
    /// Nil: the namespace of the descriptor's removed name.
    public var liveNamespace: Int? = nil
    public var liveInSavedFiles = false

    public init(mode: UInt64, uid: UInt64, gid: UInt64) { self.mode = mode; self.uid = uid; self.gid = gid }

    enum Tag: UInt16, CaseIterable { case mode = 1, uid = 2, gid = 3, size = 4, extents = 5, handleType = 6, handle = 7, accessTime = 8, modificationTime = 9, livePath = 10,
                         liveNamespace = 11, liveInSavedFiles = 12 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.mode.rawValue, mode)
        e.u64(Tag.uid.rawValue, uid)
        e.u64(Tag.gid.rawValue, gid)
        if !extents.isEmpty || size != 0 {
            e.u64(Tag.size.rawValue, size)
            e.u64s(Tag.extents.rawValue, extents)
        }
        if !handle.isEmpty {
            e.i64(Tag.handleType.rawValue, handleType)
            e.raw(Tag.handle.rawValue, handle)
        }
        if let accessTime { e.i64(Tag.accessTime.rawValue, accessTime) }
        if let modificationTime { e.i64(Tag.modificationTime.rawValue, modificationTime) }
        if let livePath { e.string(Tag.livePath.rawValue, livePath) }
        if let liveNamespace { e.u64(Tag.liveNamespace.rawValue, UInt64(liveNamespace)) }
        if liveInSavedFiles { e.u64(Tag.liveInSavedFiles.rawValue, 1) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        mode = try d.u64(Tag.mode.rawValue, default: 0o600)
        uid = try d.u64(Tag.uid.rawValue, default: .max)
        gid = try d.u64(Tag.gid.rawValue, default: .max)
        guard mode <= 0o7777, uid == .max || uid <= UInt64(UInt32.max), gid == .max || gid <= UInt64(UInt32.max) else {
            throw ImageError.malformed(what: "unlinked file fd \(fd): mode 0o\(String(mode, radix: 8)), owner \(uid):\(gid)", offset: d.base)
        }
        handle = d.raw(Tag.handle.rawValue) ?? []
        handleType = try d.optionalI64(Tag.handleType.rawValue) ?? 0
        guard handle.count <= 128, handleType >= Int64(Int32.min), handleType <= Int64(Int32.max) else {
            throw ImageError.malformed(what: "unlinked file fd \(fd): a file handle of \(handle.count) bytes, type \(handleType)", offset: d.base)
        }
        size = try d.u64(Tag.size.rawValue, default: 0)
        extents = try d.u64s(Tag.extents.rawValue)
        accessTime = try d.optionalI64(Tag.accessTime.rawValue)
        modificationTime = try d.optionalI64(Tag.modificationTime.rawValue)
        livePath = d.string(Tag.livePath.rawValue)
        if let livePath, !livePath.hasPrefix("/") || livePath.contains("\0") {
            throw ImageError.malformed(what: "unlinked file fd \(fd): another name '\(livePath)' that is not an absolute path", offset: d.base)
        }
        if let ns = try d.optionalU64(Tag.liveNamespace.rawValue) {
            guard ns <= 1 << 20 else { throw ImageError.malformed(what: "unlinked file fd \(fd): another name in mount namespace \(ns)", offset: d.base) }
            liveNamespace = Int(ns)
        }
        liveInSavedFiles = try d.u64(Tag.liveInSavedFiles.rawValue, default: 0) != 0
        // Extents in order, inside the file, not overlapping.
        var end: UInt64 = 0
        for k in stride(from: 0, to: extents.count - 1, by: 2) {
            let (start, length) = (extents[k], extents[k + 1])
            guard start >= end, start <= size, length <= size - start else {
                throw ImageError.malformed(what: "unlinked file fd \(fd): extent \(start)+\(length) in a file of \(size) bytes", offset: d.base)
            }
            end = start + length
        }
        guard extents.count % 2 == 0, size <= UInt64(Int64.max) else {
            throw ImageError.malformed(what: "unlinked file fd \(fd): \(extents.count) extent numbers, size \(size)", offset: d.base)
        }
    }

    /// Bytes the extents hold; `fileContents` must have exactly these.
    public var extentBytes: UInt64 { stride(from: 1, to: extents.count, by: 2).reduce(0) { $0 + extents[$1] } }

    /// Images before 1.2 kept neither: mode 0600, the restorer's owner.
    init(legacy: LegacyDescriptorFields, fd: Int32) throws { self.init(mode: 0o600, uid: .max, gid: .max) }
}
