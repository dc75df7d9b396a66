/// What belongs to the checkpointed tree rather than to one of its
/// processes (TREE section, since 1.2): the SysV IPC objects the processes
/// use and the PIDs libcr callbacks omitted. Images before 1.2 carried them
/// in the first PROCESS record (tags 27, 29); readers take them from there.
public struct TreeState: Equatable, Sendable {
    public var sysvObjects: [SysVObject] = []
    /// PIDs of the scope a libcr callback omitted (CR_CHECKPOINT_OMIT).
    public var omittedPIDs: [Int32] = []
    /// Set when the tree's root was PID 1 of a PID namespace of its own
    /// (since 2026-12-03): every process, thread, group and session ID the
    /// checkpointer saw (the keys, which the rest of the image uses) and the
    /// ID it had inside that namespace. The restart makes a new namespace
    /// and gives each the inner ID.
    public var namespaceIDs: [Int32: Int32] = [:]
    /// Since 2026-12-03: processes lived in a time namespace of the tree's
    /// (ProcessState.timeNamespace); its clock offsets: monotonic seconds,
    /// nanoseconds, boottime seconds, nanoseconds.
    public var timeOffsets: [Int64]?
    /// Since 2026-12-04: the tree's mount namespaces other than the
    /// checkpointer's (ProcessState.mountNamespace numbers them from 1).
    public var mountNamespaces: [MountNamespaceState] = []
    /// Since 2026-12-04: the tree's cgroup namespaces other than the
    /// checkpointer's (ProcessState.cgroupNamespace numbers them from 1),
    /// each as its root cgroup in every hierarchy.
    public var cgroupNamespaces: [[CgroupMembership]] = []
    /// Since 2026-12-04: the tree's UTS namespaces other than the
    /// checkpointer's (ProcessState.utsNamespace numbers them from 1).
    public var utsNamespaces: [UTSNamespaceState] = []
    /// Since 2026-12-04: how many IPC namespaces other than the checkpointer's
    /// the tree had (ProcessState.ipcNamespace and SysVObject.namespace number them from 1).
    public var ipcNamespaces = 0
    /// Since 2026-12-06: the settings of those that differed from a new one's.
    public var ipcSettings: [IPCNamespaceSettings] = []
    /// Since 2026-12-04: the tree's network namespaces other than the
    /// checkpointer's (ProcessState.netNamespace numbers them from 1).
    public var netNamespaces: [NetNamespaceState] = []
    /// Since 2026-12-04: the settings of the tree's cgroups and those above them.
    public var cgroupSettings: [CgroupSettings] = []
    /// Since 2026-12-06: the tree's user namespaces other than the
    /// checkpointer's, one level below it (ProcessState.userNamespace numbers them from 1).
    public var userNamespaces: [UserNamespaceState] = []

    public init(sysvObjects: [SysVObject] = [], omittedPIDs: [Int32] = [], namespaceIDs: [Int32: Int32] = [:]) {
        self.sysvObjects = sysvObjects
        self.omittedPIDs = omittedPIDs
        self.namespaceIDs = namespaceIDs
    }

    public var isEmpty: Bool { sysvObjects.isEmpty && omittedPIDs.isEmpty && namespaceIDs.isEmpty && timeOffsets == nil && mountNamespaces.isEmpty && cgroupNamespaces.isEmpty && utsNamespaces.isEmpty && ipcNamespaces == 0 && ipcSettings.isEmpty && netNamespaces.isEmpty && cgroupSettings.isEmpty && userNamespaces.isEmpty }
    /// The tree was a whole PID namespace (its init and all).
    public var ownPIDNamespace: Bool { !namespaceIDs.isEmpty }

    /// The tree-wide objects of an image before 1.2, from its PROCESS records.
    public init(legacy processes: [ProcessState]) {
        self.init(sysvObjects: processes.flatMap(\.sysvObjects), omittedPIDs: processes.flatMap(\.omittedPIDs))
    }

    /// Numbered by hand: a tag's number is the format, never its position here.
    enum Tag: UInt16, CaseIterable { case sysv = 1, omittedPIDs = 2, namespaceIDs = 3, timeOffsets = 4, mountNamespace = 5, cgroupNamespace = 6, utsNamespace = 7, ipcNamespaces = 8, netNamespace = 9, cgroupSettings = 10, ipcSettings = 11, userNamespace = 12 }

    public func encode() -> [UInt8] {
        var e = RecordEncoder()
        for o in sysvObjects { e.record(Tag.sysv.rawValue) { o.encode(into: &$0) } }
        if !omittedPIDs.isEmpty { e.u64s(Tag.omittedPIDs.rawValue, omittedPIDs.map { UInt64(UInt32(bitPattern: $0)) }) }
        if !namespaceIDs.isEmpty {
            e.u64s(Tag.namespaceIDs.rawValue, namespaceIDs.sorted { $0.key < $1.key }.flatMap { [UInt64($0.key), UInt64($0.value)] })
        }
        if let timeOffsets { e.u64s(Tag.timeOffsets.rawValue, timeOffsets.map { UInt64(bitPattern: $0) }) }
        for ns in mountNamespaces { e.record(Tag.mountNamespace.rawValue) { ns.encode(into: &$0) } }
        for ns in cgroupNamespaces {
            e.record(Tag.cgroupNamespace.rawValue) { r in for root in ns { r.string(1, root.encoded) } }
        }
        for ns in utsNamespaces { e.record(Tag.utsNamespace.rawValue) { ns.encode(into: &$0) } }
        if ipcNamespaces != 0 { e.u64(Tag.ipcNamespaces.rawValue, UInt64(ipcNamespaces)) }
        for s in ipcSettings { e.record(Tag.ipcSettings.rawValue) { s.encode(into: &$0) } }
        for ns in netNamespaces { e.record(Tag.netNamespace.rawValue) { ns.encode(into: &$0) } }
        for c in cgroupSettings { e.record(Tag.cgroupSettings.rawValue) { c.encode(into: &$0) } }
        for ns in userNamespaces { e.record(Tag.userNamespace.rawValue) { ns.encode(into: &$0) } }
        return e.bytes
    }

    public init(decoding d: RecordDecoder) throws {
        sysvObjects = try d.records(Tag.sysv.rawValue, name: "SysV object").map { try SysVObject(decoding: $0) }
        omittedPIDs = try d.u64s(Tag.omittedPIDs.rawValue).map { v in
            guard v > 0, v <= UInt64(Int32.max) else { throw ImageError.malformed(what: "omitted PID \(v)", offset: d.base) }
            return Int32(v)
        }
        let pairs = try d.u64s(Tag.namespaceIDs.rawValue)
        guard pairs.count % 2 == 0 else { throw ImageError.malformed(what: "PID namespace table of \(pairs.count) numbers (pairs expected)", offset: d.base) }
        for k in stride(from: 0, to: pairs.count, by: 2) {
            guard (1...UInt64(Int32.max)).contains(pairs[k]), (1...UInt64(Int32.max)).contains(pairs[k + 1]) else {
                throw ImageError.malformed(what: "PID namespace entry \(pairs[k]) -> \(pairs[k + 1])", offset: d.base)
            }
            namespaceIDs[Int32(pairs[k])] = Int32(pairs[k + 1])
        }
        if d.has(Tag.timeOffsets.rawValue) {
            let offsets = try d.u64s(Tag.timeOffsets.rawValue).map { Int64(bitPattern: $0) }
            guard offsets.count == 4, (0..<1_000_000_000).contains(offsets[1]), (0..<1_000_000_000).contains(offsets[3]) else {
                throw ImageError.malformed(what: "time namespace offsets \(offsets)", offset: d.base)
            }
            timeOffsets = offsets
        }
        mountNamespaces = try d.records(Tag.mountNamespace.rawValue, name: "mount namespace").map { try MountNamespaceState(decoding: $0) }
        cgroupNamespaces = try d.records(Tag.cgroupNamespace.rawValue, name: "cgroup namespace").map {
            try CgroupMembership.decodeAll($0, tag: 1, what: "cgroup namespace")
        }
        utsNamespaces = try d.records(Tag.utsNamespace.rawValue, name: "UTS namespace").map { try UTSNamespaceState(decoding: $0) }
        let ipc = try d.u64(Tag.ipcNamespaces.rawValue, default: 0)
        guard ipc < 1 << 20 else { throw ImageError.malformed(what: "\(ipc) IPC namespaces", offset: d.base) }
        ipcNamespaces = Int(ipc)
        ipcSettings = try d.records(Tag.ipcSettings.rawValue, name: "IPC namespace settings").map { try IPCNamespaceSettings(decoding: $0) }
        if let s = ipcSettings.first(where: { $0.namespace > ipcNamespaces }) {
            throw ImageError.malformed(what: "settings of IPC namespace \(s.namespace) of \(ipcNamespaces)", offset: d.base)
        }
        netNamespaces = try d.records(Tag.netNamespace.rawValue, name: "network namespace").map { try NetNamespaceState(decoding: $0) }
        for (k, ns) in netNamespaces.enumerated() {
            for l in ns.links where l.peerNamespace > netNamespaces.count {
                throw ImageError.malformed(what: "device \(l.name) of network namespace \(k + 1): its peer is in namespace \(l.peerNamespace) of \(netNamespaces.count)", offset: d.base)
            }
        }
        cgroupSettings = try d.records(Tag.cgroupSettings.rawValue, name: "cgroup settings").map { try CgroupSettings(decoding: $0) }
        userNamespaces = try d.records(Tag.userNamespace.rawValue, name: "user namespace").map { try UserNamespaceState(decoding: $0) }
        if let o = sysvObjects.first(where: { $0.namespace > ipcNamespaces }) {
            throw ImageError.malformed(what: "SysV object \(o.id) in IPC namespace \(o.namespace) of \(ipcNamespaces)", offset: d.base)
        }
    }
}
