/// The INVENTORY section: who wrote the image, where, and what it holds.
public struct Inventory: Equatable, Sendable {
    public var producer: String
    public var kernelRelease: String
    public var machine: String
    public var hostname: String
    /// Seconds since 1970.
    public var createdAt: UInt64
    /// Size of the xsave area on the writing CPU, and its XCR0 feature mask.
    public var xsaveSize: UInt64
    public var xfeatures: UInt64
    public var pageSize: UInt64
    /// BLCR scope (0 process, 1 group, 2 session, 3 tree) and the ID given.
    public var scope: UInt32
    public var target: Int32
    /// Since 1.5: a random ID of this image, which an incremental image
    /// made from it names as its parent.
    public var imageID: UInt64 = 0
    /// Since 1.5: memory read while the processes ran (cr_checkpoint
    /// --pre-dump): only a parent for incremental images, never restarted.
    public var preDump = false
    /// Since 1.5, incremental images: the parent image (its path as given
    /// at checkpoint time), its ID and the checksum of its INDEX section.
    public var parent: ParentLink?

    public struct ParentLink: Equatable, Sendable {
        public var path: String
        public var imageID: UInt64
        public var indexChecksum: UInt32
        public init(path: String, imageID: UInt64, indexChecksum: UInt32) {
            self.path = path; self.imageID = imageID; self.indexChecksum = indexChecksum
        }
    }

    public init(producer: String, kernelRelease: String, machine: String, hostname: String, createdAt: UInt64,
                xsaveSize: UInt64, xfeatures: UInt64, pageSize: UInt64 = 4096, scope: UInt32, target: Int32) {
        self.producer = producer; self.kernelRelease = kernelRelease; self.machine = machine
        self.hostname = hostname; self.createdAt = createdAt; self.xsaveSize = xsaveSize
        self.xfeatures = xfeatures; self.pageSize = pageSize; self.scope = scope; self.target = target
    }

    /// Numbered by hand: a tag's number is the format, never its position here.
    enum Tag: UInt16, CaseIterable {
        case producer = 1, kernel = 2, machine = 3, hostname = 4, created = 5, xsaveSize = 6, xfeatures = 7
        case pageSize = 8, scope = 9, target = 10, imageID = 11, preDump = 12, parentPath = 13, parentID = 14, parentChecksum = 15
    }

    public func encode() -> [UInt8] {
        var e = RecordEncoder()
        e.string(Tag.producer.rawValue, producer)
        e.string(Tag.kernel.rawValue, kernelRelease)
        e.string(Tag.machine.rawValue, machine)
        e.string(Tag.hostname.rawValue, hostname)
        e.u64(Tag.created.rawValue, createdAt)
        e.u64(Tag.xsaveSize.rawValue, xsaveSize)
        e.u64(Tag.xfeatures.rawValue, xfeatures)
        e.u64(Tag.pageSize.rawValue, pageSize)
        e.u64(Tag.scope.rawValue, UInt64(scope))
        e.i64(Tag.target.rawValue, Int64(target))
        if imageID != 0 { e.u64(Tag.imageID.rawValue, imageID) }
        if preDump { e.u64(Tag.preDump.rawValue, 1) }
        if let parent {
            e.string(Tag.parentPath.rawValue, parent.path)
            e.u64(Tag.parentID.rawValue, parent.imageID)
            e.u64(Tag.parentChecksum.rawValue, UInt64(parent.indexChecksum))
        }
        return e.bytes
    }

    public init(decoding d: RecordDecoder) throws {
        producer = d.string(Tag.producer.rawValue) ?? "unknown"
        kernelRelease = d.string(Tag.kernel.rawValue) ?? "unknown"
        machine = d.string(Tag.machine.rawValue) ?? "unknown"
        hostname = d.string(Tag.hostname.rawValue) ?? ""
        createdAt = try d.u64(Tag.created.rawValue, default: 0)
        xsaveSize = try d.u64(Tag.xsaveSize.rawValue, "xsave size")
        xfeatures = try d.u64(Tag.xfeatures.rawValue, default: 0)
        pageSize = try d.u64(Tag.pageSize.rawValue, "page size")
        guard pageSize == 4096 else { throw ImageError.malformed(what: "page size \(pageSize) (only 4096 is supported)", offset: d.base) }
        scope = UInt32(truncatingIfNeeded: try d.u64(Tag.scope.rawValue, default: 0))
        target = Int32(truncatingIfNeeded: try d.i64(Tag.target.rawValue, "target"))
        imageID = try d.u64(Tag.imageID.rawValue, default: 0)
        preDump = try d.u64(Tag.preDump.rawValue, default: 0) != 0
        if let path = d.string(Tag.parentPath.rawValue) {
            parent = ParentLink(path: path, imageID: try d.u64(Tag.parentID.rawValue, "parent image ID"),
                                indexChecksum: UInt32(truncatingIfNeeded: try d.u64(Tag.parentChecksum.rawValue, "parent checksum")))
        }
    }
}
