import Glibc

/// One virtual memory area of a process.
public struct Mapping: Equatable, Sendable {
    public enum Kind: UInt64, Sendable {
        /// Private anonymous memory (including [heap], [stack], [anon:name]).
        case anonymous = 1
        /// A file mapped MAP_PRIVATE: restored from the file, plus saved changed pages.
        case privateFile = 2
        /// A file mapped MAP_SHARED: restored by reference to the file.
        case sharedFile = 3
        /// MAP_SHARED|MAP_ANONYMOUS memory: contents saved.
        case sharedAnonymous = 4
        /// [vdso], [vvar], [vvar_vclock]: moved from the restoring kernel, never written.
        case vdso = 5
        /// [vsyscall] and other fixed kernel areas: nothing to restore.
        case kernelFixed = 6
        /// A SysV shared memory segment attached with shmat: `inode` is its shmid
        /// as checkpointed (see the process's SysV objects); contents saved.
        case sysvShm = 7
        /// A private mapping of a shared memory object (a MAP_SHARED|MAP_ANONYMOUS
        /// region or memfd, mapped again through /proc/PID/map_files or its fd):
        /// `inode` names the object, restored as for kind 4; mapped MAP_PRIVATE
        /// over it, plus the pages copied on write.
        case privateShared = 8
        /// Since 1.3: the ring of an AIO context (io_setup), whose address is
        /// the context's ID: a new context is set up with as many events,
        /// brought to the saved head and tail, given the saved events, and
        /// moved to this address.
        case aioRing = 9
        /// Since 1.3: the ring of an AF_PACKET socket (PACKET_RX/TX_RING)
        /// mapped from it: `inode` is the socket's. Mapped again from the
        /// process's descriptor for that socket once its files are back;
        /// the frames in it are not kept.
        case packetRing = 10
        case unknown = 0
    }

    public var start: UInt64
    public var end: UInt64
    /// PROT_READ=1, PROT_WRITE=2, PROT_EXEC=4.
    public var protection: UInt32
    public var shared: Bool
    /// VM_GROWSDOWN (the stack).
    public var growsDown: Bool
    public var kind: Kind
    /// Path for files, pseudo-name (`[heap]`, `[stack]`, `[anon:x]`, `[vdso]`) otherwise; nil if none.
    public var path: String?
    public var offset: UInt64
    public var device: UInt64
    public var inode: UInt64
    /// For file mappings: file size and mtime at dump time, to notice a changed file at restore.
    public var fileSize: UInt64
    public var fileMtimeNanos: UInt64
    /// For [vdso]: CRC32C of its bytes, to refuse an incompatible kernel.
    public var contentChecksum: UInt32
    /// madvise state from smaps VmFlags, as `Advice` bits.
    public var advice: Advice = []
    /// File mappings saved whole (cr_checkpoint --save-*, and POSIX shared
    /// memory under /dev/shm): restored from the image if the file changed
    /// or is gone; a shared one is made again with `fileMode`.
    public var savedWhole = false
    public var fileMode: UInt32 = 0
    /// Since 2026-12-06, with `savedWhole`: the file's uid and gid, which a
    /// file made again gets (empty: the restorer's).
    public var fileOwner: [UInt64] = []
    /// Since 2026-12-07, for [vdso]: its bytes (an ELF image), so a kernel with
    /// another vDSO can run the image through a copy of it whose functions
    /// jump to its own (empty in older images: those need the same vDSO).
    public var content: [UInt8] = []
    /// Since 2026-12-06: the mapping's own NUMA memory policy (mbind); nil: none.
    public var memoryPolicy: MemoryPolicy?
    /// Guard pages (madvise MADV_GUARD_INSTALL, Linux 6.13+) as (first page
    /// index from `start`, page count) pairs: no data, installed again last.
    public var guardRuns: [UInt64] = []
    /// Since 1.4: pages still shared copy-on-write with the parent process (forked
    /// before the checkpoint, written by neither since), as (first page,
    /// count) pairs: not saved here, they come from the parent by fork.
    public var inheritedRuns: [UInt64] = []
    /// Since 1.5, incremental images: pages not written since the parent
    /// image, as (first page, count) pairs: not saved here, their bytes are
    /// the parent's for this process and address (or its parent's, down the
    /// chain); a page no image of the chain holds is zero.
    public var parentRuns: [UInt64] = []
    /// Written since 2026-12-04 within 1.6: a hugetlb mapping's huge page size in bytes (0: ordinary
    /// pages). Made again with MAP_HUGETLB, or over a hugetlb memfd for
    /// shared memory, with that page size.
    public var hugePageSize: UInt64 = 0

    /// The madvise flags a mapping keeps (smaps VmFlags hg, nh, dd, dc, wf), and mlock (lo).
    public struct Advice: OptionSet, Equatable, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        public static let hugePage = Advice(rawValue: 1)
        public static let noHugePage = Advice(rawValue: 2)
        public static let dontDump = Advice(rawValue: 4)
        public static let dontFork = Advice(rawValue: 8)
        public static let wipeOnFork = Advice(rawValue: 16)
        /// mlock()ed (smaps "lo"): locked again after restart where the restorer may.
        public static let locked = Advice(rawValue: 32)
        /// MADV_SEQUENTIAL (smaps "sr"), MADV_RANDOM ("rr"): read-ahead hints.
        public static let sequential = Advice(rawValue: 64)
        public static let random = Advice(rawValue: 128)
        /// MADV_MERGEABLE ("mg"): offered to KSM; given again where the kernel has KSM.
        public static let mergeable = Advice(rawValue: 256)
        /// Mapped with MAP_NORESERVE ("nr"): no swap is reserved for it; mapped so again.
        public static let noReserve = Advice(rawValue: 512)
        /// Mapped with MAP_DROPPABLE ("dp", Linux 6.11+): the kernel may drop its pages; mapped so again.
        public static let droppable = Advice(rawValue: 1024)
        /// A shared file mapping that may be made writable (smaps "mw": its
        /// file was opened for writing): the file is opened read-write again.
        public static let mayWrite = Advice(rawValue: 2048)
        /// Sealed with mseal ("sl", Linux 6.10+): sealed again once the
        /// restart has made and protected it (never lazy or write-tracked).
        public static let sealed = Advice(rawValue: 4096)
    }

    public init(start: UInt64, end: UInt64, protection: UInt32, shared: Bool, growsDown: Bool, kind: Kind,
                path: String?, offset: UInt64, device: UInt64, inode: UInt64,
                fileSize: UInt64 = 0, fileMtimeNanos: UInt64 = 0, contentChecksum: UInt32 = 0) {
        self.start = start; self.end = end; self.protection = protection; self.shared = shared
        self.growsDown = growsDown; self.kind = kind; self.path = path; self.offset = offset
        self.device = device; self.inode = inode; self.fileSize = fileSize
        self.fileMtimeNanos = fileMtimeNanos; self.contentChecksum = contentChecksum
    }

    public var length: UInt64 { end - start }
    public var protectionString: String {
        ((protection & 1) != 0 ? "r" : "-") + ((protection & 2) != 0 ? "w" : "-") +
            ((protection & 4) != 0 ? "x" : "-") + (shared ? "s" : "p")
    }

    /// Numbered by hand: a tag's number is the format, never its position here.
    enum Tag: UInt16, CaseIterable {
        case start = 1, end = 2, protection = 3, shared = 4, growsDown = 5, kind = 6, path = 7
        case offset = 8, device = 9, inode = 10, fileSize = 11, mtime = 12, checksum = 13, advice = 14
        case savedWhole = 15, fileMode = 16, guardRuns = 17, inheritedRuns = 18, parentRuns = 19, hugePageSize = 20, fileOwner = 21, memoryPolicy = 22
        case content = 23
    }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.start.rawValue, start)
        e.u64(Tag.end.rawValue, end)
        e.u64(Tag.protection.rawValue, UInt64(protection))
        e.u64(Tag.shared.rawValue, shared ? 1 : 0)
        e.u64(Tag.growsDown.rawValue, growsDown ? 1 : 0)
        e.u64(Tag.kind.rawValue, kind.rawValue)
        if let p = path { e.string(Tag.path.rawValue, p) }
        e.u64(Tag.offset.rawValue, offset)
        e.u64(Tag.device.rawValue, device)
        e.u64(Tag.inode.rawValue, inode)
        e.u64(Tag.fileSize.rawValue, fileSize)
        e.u64(Tag.mtime.rawValue, fileMtimeNanos)
        e.u64(Tag.checksum.rawValue, UInt64(contentChecksum))
        if !advice.isEmpty { e.u64(Tag.advice.rawValue, advice.rawValue) }
        if savedWhole {
            e.u64(Tag.savedWhole.rawValue, 1)
            e.u64(Tag.fileMode.rawValue, UInt64(fileMode))
            if !fileOwner.isEmpty { e.u64s(Tag.fileOwner.rawValue, fileOwner) }
        }
        if !guardRuns.isEmpty { e.u64s(Tag.guardRuns.rawValue, guardRuns) }
        if !inheritedRuns.isEmpty { e.u64s(Tag.inheritedRuns.rawValue, inheritedRuns) }
        if !parentRuns.isEmpty { e.u64s(Tag.parentRuns.rawValue, parentRuns) }
        if hugePageSize != 0 { e.u64(Tag.hugePageSize.rawValue, hugePageSize) }
        if let policy = memoryPolicy { e.u64s(Tag.memoryPolicy.rawValue, policy.encoded) }
        if !content.isEmpty { e.raw(Tag.content.rawValue, content) }
    }

    init(decoding d: RecordDecoder) throws {
        start = try d.u64(Tag.start.rawValue, "mapping start")
        end = try d.u64(Tag.end.rawValue, "mapping end")
        guard start < end, start % 4096 == 0, end % 4096 == 0 else {
            throw ImageError.malformed(what: "mapping 0x\(String(start, radix: 16))-0x\(String(end, radix: 16)) is empty or not page aligned", offset: d.base)
        }
        protection = UInt32(truncatingIfNeeded: try d.u64(Tag.protection.rawValue, "protection")) & 7
        shared = try d.u64(Tag.shared.rawValue, default: 0) != 0
        growsDown = try d.u64(Tag.growsDown.rawValue, default: 0) != 0
        kind = Kind(rawValue: try d.u64(Tag.kind.rawValue, "mapping kind")) ?? .unknown
        path = d.string(Tag.path.rawValue)
        offset = try d.u64(Tag.offset.rawValue, default: 0)
        device = try d.u64(Tag.device.rawValue, default: 0)
        inode = try d.u64(Tag.inode.rawValue, default: 0)
        fileSize = try d.u64(Tag.fileSize.rawValue, default: 0)
        fileMtimeNanos = try d.u64(Tag.mtime.rawValue, default: 0)
        contentChecksum = UInt32(truncatingIfNeeded: try d.u64(Tag.checksum.rawValue, default: 0))
        advice = Advice(rawValue: try d.u64(Tag.advice.rawValue, default: 0))
        savedWhole = try d.u64(Tag.savedWhole.rawValue, default: 0) != 0
        fileMode = UInt32(truncatingIfNeeded: try d.u64(Tag.fileMode.rawValue, default: 0)) & 0o7777
        fileOwner = try d.u64s(Tag.fileOwner.rawValue)
        guard fileOwner.isEmpty || (fileOwner.count == 2 && fileOwner.allSatisfy { $0 <= UInt64(UInt32.max) }) else {
            throw ImageError.malformed(what: "mapping 0x\(String(start, radix: 16)): file owner \(fileOwner) is not a uid and a gid", offset: d.base)
        }
        guardRuns = try d.u64s(Tag.guardRuns.rawValue)
        inheritedRuns = try d.u64s(Tag.inheritedRuns.rawValue)
        try Self.checkRuns(guardRuns, "guard", pages: (end - start) / 4096, mapping: start, offset: d.base)
        try Self.checkRuns(inheritedRuns, "inherited", pages: (end - start) / 4096, mapping: start, offset: d.base)
        parentRuns = try d.u64s(Tag.parentRuns.rawValue)
        try Self.checkRuns(parentRuns, "parent", pages: (end - start) / 4096, mapping: start, offset: d.base)
        hugePageSize = try d.u64(Tag.hugePageSize.rawValue, default: 0)
        memoryPolicy = try MemoryPolicy.decode(try d.u64s(Tag.memoryPolicy.rawValue), what: "mapping 0x\(String(start, radix: 16))", offset: d.base)
        content = d.raw(Tag.content.rawValue) ?? []
        guard content.isEmpty || (kind == .vdso && UInt64(content.count) == end - start && CRC32C.checksum(content) == contentChecksum) else {
            throw ImageError.malformed(what: "mapping 0x\(String(start, radix: 16)): its saved content (\(content.count) bytes) is not the [vdso] of this length and checksum", offset: d.base)
        }
        guard hugePageSize == 0 || (hugePageSize > 4096 && hugePageSize <= 1 << 34 && hugePageSize & (hugePageSize - 1) == 0
                                    && start % hugePageSize == 0 && end % hugePageSize == 0) else {
            throw ImageError.malformed(what: "mapping 0x\(String(start, radix: 16)): huge page size \(hugePageSize) is not a power of two its bounds are aligned to", offset: d.base)
        }
    }

    /// (first page, count) pairs in order, not overlapping, inside the mapping.
    static func checkRuns(_ runs: [UInt64], _ what: String, pages: UInt64, mapping start: UInt64, offset: UInt64) throws {
        guard runs.count % 2 == 0 else {
            throw ImageError.malformed(what: "mapping 0x\(String(start, radix: 16)): \(what) runs are not (page, count) pairs", offset: offset)
        }
        var next: UInt64 = 0
        for i in stride(from: 0, to: runs.count, by: 2) {
            let (first, count) = (runs[i], runs[i + 1])
            guard first >= next, count > 0, count <= pages, first <= pages - count else {
                throw ImageError.malformed(what: "mapping 0x\(String(start, radix: 16)): \(what) run at page \(first) (+\(count)) is out of order or outside it", offset: offset)
            }
            next = first + count
        }
    }

    /// The guard runs as (address, byte length).
    public var guardRanges: [(address: UInt64, length: UInt64)] { ranges(guardRuns) }
    /// How many pages come from the parent by fork.
    public var inheritedPageCount: UInt64 { Self.pageCount(inheritedRuns) }
    /// The inherited runs as (address, byte length).
    public var inheritedRanges: [(address: UInt64, length: UInt64)] { ranges(inheritedRuns) }
    /// How many pages come from the parent image.
    public var parentPageCount: UInt64 { Self.pageCount(parentRuns) }

    /// The pages of (first page, count) pairs.
    static func pageCount(_ runs: [UInt64]) -> UInt64 { stride(from: 1, to: runs.count, by: 2).reduce(0) { $0 + runs[$1] } }
    /// The pages from the parent image as (address, byte length).
    public var parentRanges: [(address: UInt64, length: UInt64)] { ranges(parentRuns) }

    private func ranges(_ runs: [UInt64]) -> [(address: UInt64, length: UInt64)] {
        stride(from: 0, to: runs.count - 1, by: 2).map { (start + runs[$0] * 4096, runs[$0 + 1] * 4096) }
    }

    /// Whether the file as it is now (`st`) is the one mapped at checkpoint
    /// time: same size and modification time.
    public func fileMatches(_ st: stat) -> Bool {
        let mtime = UInt64(bitPattern: Int64(st.st_mtim.tv_sec)) &* 1_000_000_000 &+ UInt64(bitPattern: Int64(st.st_mtim.tv_nsec))
        return UInt64(bitPattern: Int64(st.st_size)) == fileSize && mtime == fileMtimeNanos
    }

    /// How far from `start` the file reaches (pages past the end of the file cannot be read).
    public var fileSpan: UInt64 {
        guard fileSize > offset else { return 0 }
        return min(length, (fileSize - offset + 4095) & ~4095)
    }
}
