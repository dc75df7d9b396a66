/// Everything about one process except its page contents.
public struct ProcessState: Equatable, Sendable {
    public var pid: Int32
    public var ppid: Int32
    public var pgid: Int32
    public var sid: Int32
    public var command: String
    public var executable: String
    /// Real, effective, saved, fs user and group IDs; supplementary groups.
    public var uids: [UInt64]
    public var gids: [UInt64]
    public var groups: [UInt64]
    public var umask: UInt32
    public var cwd: String
    public var root: String
    public var personality: UInt64
    public var rlimits: [ResourceLimit]
    public var mm: MemoryLayoutFields
    /// /proc/PID/auxv as (type, value) pairs flattened.
    public var auxv: [UInt64]
    /// Signals 1...64 (SIGKILL and SIGSTOP included for completeness).
    public var signalActions: [SignalAction]
    /// Process-wide pending signals, 128-byte siginfos.
    public var sharedPending: [[UInt8]]
    public var threads: [ThreadState]
    public var mappings: [Mapping]
    public var files: [FileDescriptorState]
    public var dumpable: UInt64
    public var parentDeathSignal: UInt64
    /// Stopped by a signal (SIGSTOP, SIGTSTP...) when checkpointed: stopped again after restart.
    public var stopped = false
    /// The signal that stopped it (19 SIGSTOP, 20 SIGTSTP, 21 SIGTTIN, 22 SIGTTOU), sent again.
    public var stopSignal: Int32 = 19
    public var intervalTimers = IntervalTimers()
    public var posixTimers: [PosixTimer] = []
    /// SysV IPC objects the image's processes used (first process record only).
    public var sysvObjects: [SysVObject] = []
    /// With libcr: the fd of the agent's result pipe, where the restart writes "restarted" (-1: no agent waiting).
    public var agentResultFD: Int32 = -1
    /// Processes of the scope that a libcr callback had omitted (first process record only).
    public var omittedPIDs: [Int32] = []
    /// PR_SET_NO_NEW_PRIVS was set: execve grants no privileges.
    public var noNewPrivs = false
    /// Since 1.3: capability sets (inheritable, permitted, effective,
    /// bounding, ambient) as /proc/PID/status shows them; empty if not saved.
    public var capabilities: [UInt64] = []
    /// Since 1.3: the image PID of an earlier process whose file descriptor
    /// table this one shares (CLONE_FILES); 0 for its own.
    public var filesSharedWith: Int32 = 0
    /// Since 1.3: the controlling terminal's device number (kernel encoding,
    /// major << 8 | minor low bits as /proc/PID/stat gives it) and its
    /// foreground process group; empty for none.
    public var terminal: [UInt64] = []
    /// prctl(PR_SET_THP_DISABLE) was set: no transparent huge pages for this process.
    public var thpDisabled = false
    /// Since 1.3: prctl(PR_SET_KEEPCAPS) was on in the main thread (capabilities kept across a setuid).
    public var keepCaps = false
    /// /proc/PID/oom_score_adj (-1000...1000); nil in images written before it was saved.
    public var oomScoreAdj: Int64?
    /// Since 2026-12: the audit login uid (/proc/PID/loginuid) when set; nil: unset or not saved.
    public var loginUID: UInt32?
    /// prctl(PR_SET_CHILD_SUBREAPER) was set: orphaned descendants are reparented to this process.
    public var childSubreaper = false
    /// Since 2026-12-03: the process lived in the tree's time namespace
    /// (TreeState.timeOffsets), and its children are born there.
    public var timeNamespace = TimeNamespaceUse()
    public struct TimeNamespaceUse: Equatable, Sendable {
        public var own = false
        public var children = false
        public init(own: Bool = false, children: Bool = false) { self.own = own; self.children = children }
        public var isEmpty: Bool { !own && !children }
    }
    /// Since 2026-12-04: the process's mount namespace, 1-based into
    /// TreeState.mountNamespaces; 0: the checkpointer's (cr_restart's on restart).
    public var mountNamespace = 0
    /// Since 2026-12-04: the cgroups of its main thread, one per hierarchy
    /// (restored with cr_restart --manage-cgroups).
    public var cgroups: [CgroupMembership] = []
    /// Since 2026-12-04: the process's cgroup namespace, 1-based into
    /// TreeState.cgroupNamespaces; 0: the checkpointer's.
    public var cgroupNamespace = 0
    /// Since 2026-12-04: the process's UTS namespace, 1-based into
    /// TreeState.utsNamespaces; 0: the checkpointer's.
    public var utsNamespace = 0
    /// Since 2026-12-04: the process's IPC namespace, 1-based (TreeState.ipcNamespaces); 0: the checkpointer's.
    public var ipcNamespace = 0
    /// Since 2026-12-04: the process's network namespace, 1-based into TreeState.netNamespaces; 0: the checkpointer's.
    public var netNamespace = 0
    /// Since 2026-12-06: the process's user namespace, 1-based into TreeState.userNamespaces; 0: the checkpointer's.
    public var userNamespace = 0
    /// Since 2026-12-06: which of its network, IPC, UTS and mount namespaces
    /// belong to that user namespace (their CLONE_NEW* flags): the restart
    /// makes those inside it (a mount namespace: built, then copied inside;
    /// readers before the mount bit refuse it).
    public var ownedByUserNamespace: UInt64 = 0
    public static let ownableNamespaces: UInt64 = 0x4000_0000 | 0x0800_0000 | 0x0400_0000 | 0x2_0000  // CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNS
    /// Since 2026-12-06: a removed working directory's permission bits,
    /// owner and group (the restart makes a stand-in alike); empty otherwise.
    public var deletedCwdAttributes: [UInt64] = []
    /// Since 2026-12-06: prctl(PR_GET_MDWE) flags (1 refuse exec gain, 2 not
    /// inherited); 0: none (or a kernel before 6.3).
    public var memoryDenyWriteExecute: UInt64 = 0
    /// Since 2026-12-06: /proc/PID/coredump_filter; nil in older images.
    public var coredumpFilter: UInt64?
    /// Since 2026-12-06: the securebits (PR_GET_SECUREBITS) where any besides
    /// SECBIT_KEEP_CAPS (which `keepCaps` carries) is set; 0 otherwise.
    public var secureBits: UInt64 = 0
    /// membarrier(2) registrations, as the REGISTER command bits (4 global
    /// expedited, 16 private expedited, 64 its sync-core form, 256 its rseq form).
    public var membarrierRegistrations: UInt64 = 0

    public struct ResourceLimit: Equatable, Sendable {
        public var resource: UInt32, soft: UInt64, hard: UInt64
        public init(resource: UInt32, soft: UInt64, hard: UInt64) { self.resource = resource; self.soft = soft; self.hard = hard }
    }

    /// The mm fields that PR_SET_MM_MAP restores.
    public struct MemoryLayoutFields: Equatable, Sendable {
        public var startCode: UInt64 = 0, endCode: UInt64 = 0, startData: UInt64 = 0, endData: UInt64 = 0
        public var startBrk: UInt64 = 0, brk: UInt64 = 0, startStack: UInt64 = 0
        public var argStart: UInt64 = 0, argEnd: UInt64 = 0, envStart: UInt64 = 0, envEnd: UInt64 = 0
        public init() {}
        var values: [UInt64] { [startCode, endCode, startData, endData, startBrk, brk, startStack, argStart, argEnd, envStart, envEnd] }
        init(values v: [UInt64]) {
            (startCode, endCode, startData, endData) = (v[0], v[1], v[2], v[3])
            (startBrk, brk, startStack) = (v[4], v[5], v[6])
            (argStart, argEnd, envStart, envEnd) = (v[7], v[8], v[9], v[10])
        }
    }

    /// The kernel's sigaction for one signal.
    public struct SignalAction: Equatable, Sendable {
        public var signal: Int32, handler: UInt64, flags: UInt64, restorer: UInt64, mask: UInt64
        public init(signal: Int32, handler: UInt64, flags: UInt64, restorer: UInt64, mask: UInt64) {
            self.signal = signal; self.handler = handler; self.flags = flags; self.restorer = restorer; self.mask = mask
        }
    }

    public init(pid: Int32, ppid: Int32, pgid: Int32, sid: Int32, command: String, executable: String,
                uids: [UInt64], gids: [UInt64], groups: [UInt64], umask: UInt32, cwd: String, root: String,
                personality: UInt64, rlimits: [ResourceLimit], mm: MemoryLayoutFields, auxv: [UInt64],
                signalActions: [SignalAction], sharedPending: [[UInt8]], threads: [ThreadState],
                mappings: [Mapping], files: [FileDescriptorState], dumpable: UInt64, parentDeathSignal: UInt64) {
        self.pid = pid; self.ppid = ppid; self.pgid = pgid; self.sid = sid; self.command = command
        self.executable = executable; self.uids = uids; self.gids = gids; self.groups = groups
        self.umask = umask; self.cwd = cwd; self.root = root; self.personality = personality
        self.rlimits = rlimits; self.mm = mm; self.auxv = auxv; self.signalActions = signalActions
        self.sharedPending = sharedPending; self.threads = threads; self.mappings = mappings
        self.files = files; self.dumpable = dumpable; self.parentDeathSignal = parentDeathSignal
    }

    /// The membarrier REGISTER commands an image may name.
    public static let membarrierKnown: UInt64 = 4 | 16 | 64 | 256

    /// Numbered by hand: a tag's number is the format, never its position here.
    enum Tag: UInt16, CaseIterable {
        case pid = 1, ppid = 2, pgid = 3, sid = 4, command = 5, executable = 6, uids = 7
        case gids = 8, groups = 9, umask = 10, cwd = 11, root = 12, personality = 13, rlimit = 14
        case mm = 15, auxv = 16, sigaction = 17, sharedPending = 18, thread = 19, mapping = 20, file = 21
        case dumpable = 22, pdeathsig = 23, stopped = 24, intervalTimers = 25, posixTimer = 26, sysv = 27, agentResultFD = 28
        case omittedPIDs = 29, noNewPrivs = 30, thpDisabled = 31, oomScoreAdj = 32, childSubreaper = 33, membarrier = 34, capabilities = 35, filesSharedWith = 36, terminal = 37, keepCaps = 38, loginUID = 39, timeNamespace = 40, mountNamespace = 41, cgroup = 42, cgroupNamespace = 43, utsNamespace = 44, ipcNamespace = 45, netNamespace = 46, deletedCwdAttributes = 47, mdwe = 48, coredumpFilter = 49, secureBits = 50, userNamespace = 51, ownedByUserNamespace = 52
    }
    enum SubTag: UInt16, CaseIterable { case a = 1, b = 2, c = 3, d = 4, e = 5 }

    public func encode() -> [UInt8] {
        var e = RecordEncoder()
        e.i64(Tag.pid.rawValue, Int64(pid))
        e.i64(Tag.ppid.rawValue, Int64(ppid))
        e.i64(Tag.pgid.rawValue, Int64(pgid))
        e.i64(Tag.sid.rawValue, Int64(sid))
        e.string(Tag.command.rawValue, command)
        e.string(Tag.executable.rawValue, executable)
        e.u64s(Tag.uids.rawValue, uids)
        e.u64s(Tag.gids.rawValue, gids)
        e.u64s(Tag.groups.rawValue, groups)
        e.u64(Tag.umask.rawValue, UInt64(umask))
        e.string(Tag.cwd.rawValue, cwd)
        e.string(Tag.root.rawValue, root)
        e.u64(Tag.personality.rawValue, personality)
        for r in rlimits { e.u64s(Tag.rlimit.rawValue, [UInt64(r.resource), r.soft, r.hard]) }
        e.u64s(Tag.mm.rawValue, mm.values)
        e.u64s(Tag.auxv.rawValue, auxv)
        for a in signalActions {
            e.u64s(Tag.sigaction.rawValue, [UInt64(a.signal), a.handler, a.flags, a.restorer, a.mask])
        }
        for p in sharedPending { e.raw(Tag.sharedPending.rawValue, p) }
        for t in threads { e.record(Tag.thread.rawValue) { t.encode(into: &$0) } }
        for m in mappings { e.record(Tag.mapping.rawValue) { m.encode(into: &$0) } }
        for f in files { e.record(Tag.file.rawValue) { f.encode(into: &$0) } }
        e.u64(Tag.dumpable.rawValue, dumpable)
        e.u64(Tag.pdeathsig.rawValue, parentDeathSignal)
        if stopped { e.u64(Tag.stopped.rawValue, UInt64(stopSignal)) }
        if intervalTimers.isArmed { e.u64s(Tag.intervalTimers.rawValue, intervalTimers.values) }
        for t in posixTimers { e.u64s(Tag.posixTimer.rawValue, t.fields) }
        for o in sysvObjects { e.record(Tag.sysv.rawValue) { o.encode(into: &$0) } }
        if agentResultFD >= 0 { e.i64(Tag.agentResultFD.rawValue, Int64(agentResultFD)) }
        if !omittedPIDs.isEmpty { e.u64s(Tag.omittedPIDs.rawValue, omittedPIDs.map { UInt64(UInt32(bitPattern: $0)) }) }
        if noNewPrivs { e.u64(Tag.noNewPrivs.rawValue, 1) }
        if thpDisabled { e.u64(Tag.thpDisabled.rawValue, 1) }
        if keepCaps { e.u64(Tag.keepCaps.rawValue, 1) }
        if let adj = oomScoreAdj { e.i64(Tag.oomScoreAdj.rawValue, adj) }
        if let loginUID { e.u64(Tag.loginUID.rawValue, UInt64(loginUID)) }
        if childSubreaper { e.u64(Tag.childSubreaper.rawValue, 1) }
        if membarrierRegistrations != 0 { e.u64(Tag.membarrier.rawValue, membarrierRegistrations) }
        if !capabilities.isEmpty { e.u64s(Tag.capabilities.rawValue, capabilities) }
        if filesSharedWith != 0 { e.i64(Tag.filesSharedWith.rawValue, Int64(filesSharedWith)) }
        if !terminal.isEmpty { e.u64s(Tag.terminal.rawValue, terminal) }
        if !timeNamespace.isEmpty { e.u64s(Tag.timeNamespace.rawValue, [timeNamespace.own ? 1 : 0, timeNamespace.children ? 1 : 0]) }
        if mountNamespace != 0 { e.u64(Tag.mountNamespace.rawValue, UInt64(mountNamespace)) }
        for c in cgroups { e.string(Tag.cgroup.rawValue, c.encoded) }
        if cgroupNamespace != 0 { e.u64(Tag.cgroupNamespace.rawValue, UInt64(cgroupNamespace)) }
        if utsNamespace != 0 { e.u64(Tag.utsNamespace.rawValue, UInt64(utsNamespace)) }
        if ipcNamespace != 0 { e.u64(Tag.ipcNamespace.rawValue, UInt64(ipcNamespace)) }
        if netNamespace != 0 { e.u64(Tag.netNamespace.rawValue, UInt64(netNamespace)) }
        if userNamespace != 0 { e.u64(Tag.userNamespace.rawValue, UInt64(userNamespace)) }
        if ownedByUserNamespace != 0 { e.u64(Tag.ownedByUserNamespace.rawValue, ownedByUserNamespace) }
        if !deletedCwdAttributes.isEmpty { e.u64s(Tag.deletedCwdAttributes.rawValue, deletedCwdAttributes) }
        if memoryDenyWriteExecute != 0 { e.u64(Tag.mdwe.rawValue, memoryDenyWriteExecute) }
        if let filter = coredumpFilter { e.u64(Tag.coredumpFilter.rawValue, filter) }
        if secureBits != 0 { e.u64(Tag.secureBits.rawValue, secureBits) }
        return e.bytes
    }

    public init(decoding d: RecordDecoder) throws {
        pid = try d.i32(Tag.pid.rawValue, "pid")
        guard pid > 0 else { throw ImageError.malformed(what: "process ID \(pid)", offset: d.base) }
        ppid = try d.i32(Tag.ppid.rawValue, "ppid")
        pgid = try d.i32(Tag.pgid.rawValue, "pgid")
        sid = try d.i32(Tag.sid.rawValue, "sid")
        command = d.string(Tag.command.rawValue) ?? ""
        executable = d.string(Tag.executable.rawValue) ?? ""
        uids = try d.u64s(Tag.uids.rawValue)
        gids = try d.u64s(Tag.gids.rawValue)
        groups = try d.u64s(Tag.groups.rawValue)
        umask = UInt32(truncatingIfNeeded: try d.u64(Tag.umask.rawValue, "umask")) & 0o777
        cwd = d.string(Tag.cwd.rawValue) ?? "/"
        root = d.string(Tag.root.rawValue) ?? "/"
        personality = try d.u64(Tag.personality.rawValue, default: 0)
        rlimits = []
        for f in d.fields where f.tag == Tag.rlimit.rawValue {
            let v = try RecordDecoder.u64List(d, f.range, count: 3, what: "rlimit")
            rlimits.append(ResourceLimit(resource: UInt32(truncatingIfNeeded: v[0]), soft: v[1], hard: v[2]))
        }
        let mmValues = try d.u64s(Tag.mm.rawValue)
        guard mmValues.count >= 11 else { throw ImageError.malformed(what: "process \(pid): mm fields missing", offset: d.base) }
        mm = MemoryLayoutFields(values: mmValues)
        auxv = try d.u64s(Tag.auxv.rawValue)
        guard auxv.count % 2 == 0 else { throw ImageError.malformed(what: "process \(pid): odd auxv", offset: d.base) }
        signalActions = []
        for f in d.fields where f.tag == Tag.sigaction.rawValue {
            let v = try RecordDecoder.u64List(d, f.range, count: 5, what: "sigaction")
            guard (1...64).contains(v[0]) else { throw ImageError.malformed(what: "sigaction for signal \(v[0])", offset: d.offset(of: f.range)) }
            signalActions.append(SignalAction(signal: Int32(v[0]), handler: v[1], flags: v[2], restorer: v[3], mask: v[4]))
        }
        sharedPending = d.fields.filter { $0.tag == Tag.sharedPending.rawValue }.map { Array(d.bytes[$0.range]) }
        guard sharedPending.allSatisfy({ $0.count == 128 }) else {
            throw ImageError.malformed(what: "process \(pid): a pending siginfo is not 128 bytes", offset: d.base)
        }
        threads = try d.records(Tag.thread.rawValue, name: "thread").map { try ThreadState(decoding: $0) }
        guard !threads.isEmpty else { throw ImageError.malformed(what: "process \(pid) has no threads", offset: d.base) }
        mappings = try d.records(Tag.mapping.rawValue, name: "mapping").map { try Mapping(decoding: $0) }
        for (a, b) in zip(mappings, mappings.dropFirst()) where b.start < a.end {
            throw ImageError.malformed(what: "process \(pid): mappings overlap or are unsorted at 0x\(String(b.start, radix: 16))", offset: d.base)
        }
        files = try d.records(Tag.file.rawValue, name: "fd").map { try FileDescriptorState(decoding: $0) }
        dumpable = try d.u64(Tag.dumpable.rawValue, default: 1)
        parentDeathSignal = try d.u64(Tag.pdeathsig.rawValue, default: 0)
        guard parentDeathSignal <= 64 else {
            throw ImageError.malformed(what: "process \(pid): parent-death signal \(parentDeathSignal) is not a signal (1-64)", offset: d.base)
        }
        // 1 in images before 1.2 (the restart sent SIGSTOP); since then the stop signal.
        let stop = try d.u64(Tag.stopped.rawValue, default: 0)
        guard stop <= 1 || (19...22).contains(stop) else {
            throw ImageError.malformed(what: "process \(pid) stopped by signal \(stop), which is not a stop signal", offset: d.base)
        }
        stopped = stop != 0
        stopSignal = stop > 1 ? Int32(stop) : 19
        if let r = d.first(Tag.intervalTimers.rawValue) {
            let v = try RecordDecoder.u64List(d, r, count: 12, what: "interval timers")
            guard stride(from: 0, to: 12, by: 2).allSatisfy({ v[$0 + 1] < 1_000_000 && v[$0] < 1 << 40 }) else {
                throw ImageError.malformed(what: "process \(pid): interval timer out of range", offset: d.offset(of: r))
            }
            intervalTimers = IntervalTimers(values: v)
        }
        sysvObjects = try d.records(Tag.sysv.rawValue, name: "SysV object").map { try SysVObject(decoding: $0) }
        if d.has(Tag.agentResultFD.rawValue) {
            agentResultFD = try d.i32(Tag.agentResultFD.rawValue, "agent result fd")
            guard agentResultFD >= 0 else { throw ImageError.malformed(what: "process \(pid): agent result fd \(agentResultFD)", offset: d.base) }
        }
        omittedPIDs = try d.u64s(Tag.omittedPIDs.rawValue).map { Int32(truncatingIfNeeded: $0) }
        noNewPrivs = try d.u64(Tag.noNewPrivs.rawValue, default: 0) != 0
        capabilities = try d.u64s(Tag.capabilities.rawValue)
        terminal = try d.u64s(Tag.terminal.rawValue)
        let time = try d.u64s(Tag.timeNamespace.rawValue)
        guard time.isEmpty || (time.count == 2 && time.allSatisfy { $0 <= 1 }) else {
            throw ImageError.malformed(what: "process \(pid): time namespace use \(time)", offset: d.base)
        }
        if !time.isEmpty { timeNamespace = TimeNamespaceUse(own: time[0] == 1, children: time[1] == 1) }
        // Namespace numbers index the tree's tables (0: the checkpointer's); bounded before use.
        func namespace(_ tag: Tag, _ what: String) throws -> Int {
            let n = try d.u64(tag.rawValue, default: 0)
            guard n < 1 << 20 else { throw ImageError.malformed(what: "process \(pid): \(what) namespace \(n)", offset: d.base) }
            return Int(n)
        }
        mountNamespace = try namespace(.mountNamespace, "mount")
        cgroups = try CgroupMembership.decodeAll(d, tag: Tag.cgroup.rawValue, what: "process \(pid)")
        cgroupNamespace = try namespace(.cgroupNamespace, "cgroup")
        utsNamespace = try namespace(.utsNamespace, "UTS")
        ipcNamespace = try namespace(.ipcNamespace, "IPC")
        netNamespace = try namespace(.netNamespace, "network")
        userNamespace = try namespace(.userNamespace, "user")
        ownedByUserNamespace = try d.u64(Tag.ownedByUserNamespace.rawValue, default: 0)
        guard ownedByUserNamespace & ~Self.ownableNamespaces == 0, ownedByUserNamespace == 0 || userNamespace != 0 else {
            throw ImageError.malformed(what: "process \(pid): namespaces 0x\(String(ownedByUserNamespace, radix: 16)) of its user namespace \(userNamespace)", offset: d.base)
        }
        deletedCwdAttributes = try d.u64s(Tag.deletedCwdAttributes.rawValue)
        memoryDenyWriteExecute = try d.u64(Tag.mdwe.rawValue, default: 0)
        coredumpFilter = try d.optionalU64(Tag.coredumpFilter.rawValue)
        secureBits = try d.u64(Tag.secureBits.rawValue, default: 0)
        guard secureBits <= 0xfff else { throw ImageError.malformed(what: "process \(pid): securebits 0x\(String(secureBits, radix: 16))", offset: d.base) }
        guard [0, 1, 3].contains(memoryDenyWriteExecute), (coredumpFilter ?? 0) <= UInt64(UInt32.max) else {
            throw ImageError.malformed(what: "process \(pid): memory-deny-write-execute flags \(memoryDenyWriteExecute) or core dump filter \(coredumpFilter ?? 0)", offset: d.base)
        }
        if !deletedCwdAttributes.isEmpty {
            let a = deletedCwdAttributes
            guard a.count == 3, a[0] <= 0o7777, a[1] <= UInt64(UInt32.max), a[2] <= UInt64(UInt32.max) else {
                throw ImageError.malformed(what: "process \(pid): removed working directory's mode and owner \(a) are not mode, uid, gid", offset: d.base)
            }
        }
        guard terminal.isEmpty || (terminal.count == 2 && terminal[0] <= UInt64(UInt32.max)) else {
            throw ImageError.malformed(what: "process \(pid): controlling terminal \(terminal)", offset: d.base)
        }
        if d.first(Tag.filesSharedWith.rawValue) != nil {
            filesSharedWith = try d.i32(Tag.filesSharedWith.rawValue, "shared fd table")
            guard filesSharedWith > 0, filesSharedWith != pid else {
                throw ImageError.malformed(what: "process \(pid): shares the fd table of process \(filesSharedWith)", offset: d.base)
            }
        }
        guard capabilities.isEmpty || capabilities.count == 5 else {
            throw ImageError.malformed(what: "process \(pid): \(capabilities.count) capability sets, want 5", offset: d.base)
        }
        thpDisabled = try d.u64(Tag.thpDisabled.rawValue, default: 0) != 0
        keepCaps = try d.u64(Tag.keepCaps.rawValue, default: 0) != 0
        if let adj = try d.optionalI64(Tag.oomScoreAdj.rawValue) {
            guard (-1000...1000).contains(adj) else { throw ImageError.malformed(what: "oom_score_adj \(adj) is outside -1000...1000", offset: d.base) }
            oomScoreAdj = adj
        }
        if let uid = try d.optionalU64(Tag.loginUID.rawValue) {
            guard uid < UInt64(UInt32.max) else { throw ImageError.malformed(what: "login uid \(uid)", offset: d.base) }
            loginUID = UInt32(uid)
        }
        childSubreaper = try d.u64(Tag.childSubreaper.rawValue, default: 0) != 0
        membarrierRegistrations = try d.u64(Tag.membarrier.rawValue, default: 0)
        guard membarrierRegistrations & ~Self.membarrierKnown == 0 else {
            throw ImageError.malformed(what: "membarrier registrations 0x\(String(membarrierRegistrations, radix: 16))", offset: d.base)
        }
        for f in d.fields where f.tag == Tag.posixTimer.rawValue {
            let t = PosixTimer(fields: try RecordDecoder.u64List(d, f.range, count: 10, what: "POSIX timer"))
            try t.validate(at: d.offset(of: f.range))
            posixTimers.append(t)
        }
    }
}

extension RecordDecoder {
    static func u64List(_ d: RecordDecoder, _ range: Range<Int>, count: Int, what: String) throws -> [UInt64] {
        guard range.count == count * 8 else {
            throw ImageError.malformed(what: "\(what) record is \(range.count) bytes, expected \(count * 8)", offset: d.offset(of: range))
        }
        return stride(from: range.lowerBound, to: range.upperBound, by: 8).map { s in
            var v: UInt64 = 0
            for k in 0..<8 { v |= UInt64(d.bytes[s + k]) << (8 * UInt64(k)) }
            return v
        }
    }
}
