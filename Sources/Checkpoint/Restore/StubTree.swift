import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// The stubs of a process tree, made top-down: a process whose parent is in
/// the image is forked by its parent's stub (clone3 injected there, with the
/// original PID when allowed), so parent/child links come back by
/// construction. Sessions and groups are set as each stub is born, before it
/// forks children that inherit them. Zombies are forked, then made to exit.
struct StubTree {
    let options: RestoreOptions
    let log: Logger
    /// The IDs the stubs ask for.
    let ids: RequestedIDs
    /// Original PID -> stub PID as we see it (for ptrace and /proc), for live processes.
    private(set) var stubs: [pid_t: pid_t] = [:]
    /// Original PID -> the PID the process sees itself as (for injected calls):
    /// the original one when IDs are restored (in a namespace or not), else the stub's.
    private(set) var inner: [pid_t: pid_t] = [:]
    /// Parents (original PIDs) that received SIGCHLD from recreated zombies.
    private(set) var reapedSignals: [pid_t: Bool] = [:]
    private(set) var warnings: [String] = []
    private var sessions: [pid_t: RemoteSession] = [:]
    private var zombieStubs: [pid_t] = []
    /// Leaders of process groups whose leader is gone: (group, stub as we see it, as its parent sees it, that parent).
    /// PIDs the image's zombies will take (a group led by one is not lent a holder).
    private var zombiePIDs: Set<pid_t> = []
    private var zombieStates: [pid_t: ZombieState] = [:]
    /// Zombies that led a session some of the image's live processes are
    /// in: made early and alive, to call setsid and fork them (see
    /// `goneLeaderSession`), and made to exit in `complete`. By PID.
    private var zombieLeaders: [pid_t: (outer: pid_t, inner: pid_t, session: RemoteSession)] = [:]
    /// PIDs of the image's live processes: a group led by one not made yet gets no holder (it would take that PID).
    private var livePIDs: Set<pid_t> = []
    private var groupHolders: [(pgid: pid_t, outer: pid_t, inner: pid_t, parent: RemoteSession, parentPID: pid_t)] = []
    /// Holders of sessions whose leader is gone (see `orphanSession`), by session ID; also in `groupHolders`.
    private var sessionHolders: [pid_t: RemoteSession] = [:]
    /// Processes forked by a session holder (an orphan of init in another
    /// session): a group holder they need is forked from that holder, in their session.
    private var forkedByHolder: [pid_t: RemoteSession] = [:]
    /// Per session held for a gone leader (`goneLeaderSession`), the parent its holder was forked from.
    private var goneLeaderParents: [pid_t: pid_t] = [:]
    /// Sessions whose holder was forked once its parent's memory was restored.
    private var heldAfterParentMemory: Set<pid_t> = []
    /// Processes left in their parent's session (warned): their group, in their own session, is not for them.
    private var outsideOwnSession: Set<pid_t> = []
    /// The session each process must be born in, where it matters (SessionOrder.birth).
    private var birthSessions: [pid_t: pid_t] = [:]
    /// The image's time namespace, if it had one; whether the restorer's own
    /// children are born in it; per process, whether its children are.
    var time: TimeNamespaceFactory?
    /// The image is a whole PID namespace and the restorer may choose PIDs:
    /// its root stub is made PID 1 of a new namespace by clone3 itself (the
    /// restorer stays where it is, free to start threads).
    var rootMakesPIDNamespace = false
    var restorerChildrenInTime = false
    /// The image's mount namespaces, if it had any besides the checkpointer's;
    /// per process (original PID), the one its stub is in now (0: ours).
    var mounts: MountNamespaceFactory?
    /// --manage-cgroups: each stub is put into its process's cgroups as it is born.
    var cgroups: CgroupPlacer?
    /// The image's UTS namespaces, if it had any besides the checkpointer's.
    var uts: UTSNamespaceFactory?
    /// The image's IPC and network namespaces, if it had any besides the checkpointer's.
    var ipc: RestorerMadeNamespaces?
    var net: RestorerMadeNamespaces?
    /// Per process (original PID): the cgroup, UTS, IPC and network namespace its stub is in now (0: ours).
    private var namespacesNow: [pid_t: [Int]] = [:]
    /// Parents whose move into their own namespaces waits until these children, which stay in the old ones, are forked.
    private var namespaceWaits: [pid_t: Set<pid_t>] = [:]
    private var mountNamespace: [pid_t: Int] = [:]
    private var timeChildren: [pid_t: Bool] = [:]
    /// Session leaders whose setsid waits for these children to be forked in their earlier session (SessionOrder).
    private var waitingIdentity: [pid_t: Set<pid_t>] = [:]
    /// The next ID inside the namespace that no process of the image has (0: not yet chosen).
    private var spareID: pid_t = 0
    private var spawned: [pid_t] = []
    /// Stubs handed to init as the orphans they were (see `spawnOrphan`): not our children.
    private var orphans: [pid_t] = []
    /// The image's first process: the restorer stands in as its parent, even if init was.
    private var eldest: pid_t = 0
    /// Processes forked into their parent's fd table (CLONE_FILES): the parent's restore makes their descriptors.
    private(set) var sharedTables: Set<pid_t> = []
    /// Every stub was seized with seccomp suspended (their children inherit it).
    private(set) var seccompSuspended = true

    init(options: RestoreOptions, ids: RequestedIDs, log: Logger) {
        self.options = options
        self.ids = ids
        self.log = log
    }

    /// Forks every live process except those in `later` (their parents must be
    /// restored first, see `forkLater`); zombies wait for `complete`.
    mutating func build(_ processes: [ProcessState], zombies: [ZombieState], later: Set<pid_t> = [], ptys: PtyFactory? = nil) throws {
        zombiePIDs = Set(zombies.map(\.pid))
        zombieStates = Dictionary(zombies.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        livePIDs = Set(processes.map(\.pid))
        eldest = processes.first?.pid ?? 0
        let byPID = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        // Without --restore-sid no setsid waits: every process reads as in a session of no one's.
        let order = SessionOrder(processes.map { .init(pid: $0.pid, ppid: $0.ppid, sid: options.restoreSID ? $0.sid : 0) })
        waitingIdentity = order.early.mapValues(Set.init)
        birthSessions = order.birth
        // The deferred setsid of each comes once its early children exist (`make`).
        for case .make(let pid, _) in order.steps {
            guard let p = byPID[pid], !later.contains(pid), stubs[pid] == nil else { continue }
            try make(p, among: processes, ptys: ptys)
        }
    }

    /// Moves a parent still waiting for children that stay in its old
    /// namespaces (see `make`) into its own now: `pid`'s, before its SysV
    /// segments are attached, or (nil) every one's, before descriptors are made.
    mutating func placeWaitingNamespaces(_ pid: pid_t?, among processes: [ProcessState]) throws {
        for waiting in namespaceWaits.keys.sorted() where pid == nil || waiting == pid {
            namespaceWaits[waiting] = nil
            guard let p = processes.first(where: { $0.pid == waiting }), let stub = stubs[waiting], let session = sessions[waiting] else { continue }
            try placeNamespaces(p, stub: stub, session: session)
        }
    }

    /// The namespaces a stub is born in: its parent stub's (one the restorer spawned: ours).
    private func namespacesBornIn(_ p: ProcessState) -> [Int] {
        sessions[p.ppid] != nil ? namespacesNow[p.ppid] ?? [0, 0, 0, 0] : [0, 0, 0, 0]
    }

    /// The cgroup, UTS, IPC and network namespaces the image puts `p` in (0 for a kind not restored).
    private func wantedNamespaces(_ p: ProcessState) -> [Int] {
        [cgroups == nil ? 0 : p.cgroupNamespace, uts == nil ? 0 : p.utsNamespace, ipc == nil ? 0 : p.ipcNamespace, net == nil ? 0 : p.netNamespace]
    }

    private mutating func placeNamespaces(_ p: ProcessState, stub: pid_t, session: RemoteSession) throws {
        let born = namespacesBornIn(p)
        var now = born
        if let cgroups { now[0] = try cgroups.place(p, stub: stub, session: session, bornIn: born[0]) }
        if let uts { now[1] = try uts.place(p, stub: stub, session: session, bornIn: born[1]) }
        if let ipc { now[2] = try ipc.place(p.ipcNamespace, who: p.pid, stub: stub, session: session, bornIn: born[2]) }
        if let net { now[3] = try net.place(p.netNamespace, who: p.pid, stub: stub, session: session, bornIn: born[3]) }
        namespacesNow[p.pid] = now
    }

    /// Forks a process whose parent's memory is already restored, so it
    /// inherits the pages it shared with it (copy-on-write) by the fork itself.
    mutating func forkLater(_ p: ProcessState, among processes: [ProcessState], ptys: PtyFactory? = nil) throws {
        guard sessions[p.ppid] != nil else { throw CheckpointError(EINVAL, "process \(p.pid) shares memory with parent \(p.ppid), which the image does not hold") }
        try make(p, among: processes, ptys: ptys, sharesParentMemory: true)
        if !inheritsElsewhere.contains(p.pid) { asParentLeftIt.insert(p.pid) }
        // Siblings to be born in its session (`sessionSibling`): now, while
        // its memory is still its parent's, which they share too.
        // (Not one a holder makes: a holder forked before the sibling's restore would keep its stale session.)
        for q in processes where stubs[q.pid] == nil && q.ppid == p.ppid && !heldAsOrphan(q, among: processes) {
            try takeSessionEarly(for: q, among: processes, ptys: ptys)
            guard try sessionSibling(q, among: processes, sharesParentMemory: true) != nil else { continue }
            try make(q, among: processes, ptys: ptys, sharesParentMemory: true)
            if !inheritsElsewhere.contains(q.pid) { asParentLeftIt.insert(q.pid) }
        }
    }

    /// Per session leader whose setsid came before all the children it
    /// forked in its earlier session were made: a child of its kept in that
    /// session (forked before the setsid), from which they are forked with
    /// CLONE_PARENT. Goes with the group holders.
    private var sessionKeepers: [pid_t: RemoteSession] = [:]

    /// The session `q` is born in must exist before `q` is made (its parent
    /// or a sibling leads it, `sessionSibling`, or a holder under the leader
    /// makes it, `adoptedMember`), but the leader's setsid waits for
    /// children of its earlier session that are made later (copy-on-write
    /// ones wait for its memory): a keeper forked from the leader holds
    /// that earlier session for them, and the leader takes its own now.
    private mutating func takeSessionEarly(for q: ProcessState, among processes: [ProcessState], ptys: PtyFactory?) throws {
        guard options.restoreSID, let leader = birthSessions[q.pid], leader != q.pid, let waiting = waitingIdentity[leader], !waiting.contains(q.pid),
              let state = processes.first(where: { $0.pid == leader }), let session = sessions[leader] else { return }
        // (Only where it was born in that earlier session: its children there are made some other way, or warned of, if not.)
        if let earlier = birthSessions[leader], let earlierID = madeLeader(earlier) ?? ids(earlier), try session.raw(NR.getsid, 0) == Int64(earlierID) {
            let (outer, innerID) = try fork(from: session, exactPID: holderID(among: processes))
            sessionKeepers[leader] = try Self.session(for: outer, instruction: session.injector.instruction)
            groupHolders.append((0, outer, innerID, session, leader))
        }
        waitingIdentity[leader] = nil
        try setIdentity(state, session: session, ptys: ptys)
    }

    /// Processes that share pages with their parent (copy-on-write) but were
    /// forked by a holder in their session (`adoptedMember`): what they
    /// inherited is another process's memory, so their restore makes every
    /// mapping anew and copies the shared pages from the restored parent
    /// (the sharing itself is lost: they take memory of their own).
    private(set) var inheritsElsewhere: Set<pid_t> = []

    /// Stubs made subreapers by `adoptedMember` (the image's own flags come with each restore).
    private var subreapersNow: Set<pid_t> = []

    /// Processes forked from their restored parent whose own memory is not
    /// restored yet (until `adopt`): what a child forked from one inherits
    /// is still the parent's.
    private var asParentLeftIt: Set<pid_t> = []

    /// The session a process's restore now injects through (its stub memory,
    /// where the first session lived, is gone): later forks from it use this one.
    mutating func adopt(_ session: RemoteSession, for pid: pid_t) {
        sessions[pid] = session
        asParentLeftIt.remove(pid)
        restored.insert(pid)
    }

    /// Processes whose memory is restored (`adopt`).
    private var restored: Set<pid_t> = []
    /// Processes whose parent is, until the holders go, the holder that forked them (`orphanSession`).
    private var holdersChildren: Set<pid_t> = []

    private mutating func make(_ p: ProcessState, among processes: [ProcessState], ptys: PtyFactory?, sharesParentMemory: Bool = false) throws {
        // A child that needs the session its parent or a sibling leads now, while
        // that leader still waits for children of its earlier one (SessionOrder;
        // here in the image's order, for children forked once their parent's
        // memory is in): the leader takes its session first, a keeper the old one.
        try takeSessionEarly(for: p, among: processes, ptys: ptys)
        let stub: pid_t
        let session: RemoteSession
        if let keeper = sessionKeepers[p.ppid], let need = birthSessions[p.pid], need == birthSessions[p.ppid], p.filesSharedWith == 0 {
            // A child of the parent's earlier session, which the parent has left (`takeSessionEarly`).
            stub = try fork(from: keeper, exactPID: ids(p.pid), flags: CloneFlags.parent).outer
            session = try Self.session(for: stub, instruction: keeper.injector.instruction)
            forkedByHolder[p.pid] = keeper
            if p.mappings.contains(where: { !$0.inheritedRuns.isEmpty }) { inheritsElsewhere.insert(p.pid) }
        } else if let parent = sessions[p.ppid], let holder = try orphanSession(p, parent: parent, among: processes) {
            stub = try fork(from: holder, exactPID: ids(p.pid)).outer
            session = try Self.session(for: stub, instruction: holder.injector.instruction)
            forkedByHolder[p.pid] = holder
            holdersChildren.insert(p.pid)
        } else if let parent = sessions[p.ppid], let holder = try goneLeaderSession(p, parent: parent, sharesParentMemory: sharesParentMemory) {
            // Born in the holder's session, its parent the holder's (CLONE_PARENT).
            stub = try fork(from: holder, exactPID: ids(p.pid), flags: CloneFlags.parent).outer
            session = try Self.session(for: stub, instruction: holder.injector.instruction)
            forkedByHolder[p.pid] = holder
        } else if let sibling = try sessionSibling(p, among: processes, sharesParentMemory: sharesParentMemory) {
            // Born in its session from a sibling there, its parent's child too (CLONE_PARENT).
            stub = try fork(from: sibling, exactPID: ids(p.pid), flags: CloneFlags.parent).outer
            session = try Self.session(for: stub, instruction: sibling.injector.instruction)
        } else if let made = try adoptedMember(p, among: processes) {
            (stub, session) = made
        } else if let parent = sessions[p.ppid] {
            // A process sharing its parent's fd table is forked into that table.
            let shared = sharesParentTable(p, among: processes)
            if shared { sharedTables.insert(p.pid) }
            stub = try fork(from: parent, exactPID: ids(p.pid), flags: shared ? CloneFlags.files : 0).outer
            session = try Self.session(for: stub, instruction: parent.injector.instruction)
        } else if p.ppid == 1 && p.pid != eldest {
            (stub, session) = try spawnOrphan(p)
        } else if let placed = try spawnInOriginalGroup(p) {
            (stub, session) = placed
        } else {
            let newNamespace = rootMakesPIDNamespace && p.pid == eldest
            // cr_request_restart(): the caller's child, also in a user's PID namespace
            // (born there from outside it); not the init of an image's own namespace.
            (stub, session) = try spawnRoot(pid: ids(p.pid), siblingOfRestorer: options.parentIsCaller && !ids.ownNamespace && !newNamespace,
                                            newPIDNamespace: newNamespace)
        }
        stubs[p.pid] = stub
        inner[p.pid] = ids(p.pid) ?? stub
        sessions[p.pid] = session
        // Its cgroup, UTS, IPC and network namespaces; those of a parent whose
        // children stay in its old ones come once they are forked (a user's
        // stub could not go back by setns), at the latest when the restore
        // needs them (placeWaitingNamespaces).
        let born = namespacesBornIn(p)
        let behind = processes.filter { $0.ppid == p.pid && wantedNamespaces($0) == born }.map(\.pid)
        if behind.isEmpty || wantedNamespaces(p) == born {
            try placeNamespaces(p, stub: stub, session: session)
        } else {
            namespacesNow[p.pid] = born
            namespaceWaits[p.pid] = Set(behind)
        }
        if var waiting = namespaceWaits[p.ppid], waiting.remove(p.pid) != nil {
            namespaceWaits[p.ppid] = waiting.isEmpty ? nil : waiting
            if waiting.isEmpty, let parent = processes.first(where: { $0.pid == p.ppid }), let parentStub = stubs[p.ppid], let parentSession = sessions[p.ppid] {
                try placeNamespaces(parent, stub: parentStub, session: parentSession)
            }
        }
        if let mounts {
            // Born where its parent's stub is (a stub the restorer spawned: ours), before it opens anything.
            let born = sessions[p.ppid] != nil ? mountNamespace[p.ppid] ?? 0 : 0
            mountNamespace[p.pid] = try mounts.place(p, inherited: born, session: session, stub: stub)
        }
        try placeTimeNamespace(p, stub: stub, session: session)
        if waitingIdentity[p.pid] == nil { try setIdentity(p, session: session, ptys: ptys) }
        // Its parent's setsid waited for it (SessionOrder): now, if it waits for no other child.
        if let parent = processes.first(where: { $0.pid == p.ppid }), var waiting = waitingIdentity[p.ppid], let parentSession = sessions[p.ppid] {
            // (One it did not wait for minds neither session: see the start.)
            waiting.remove(p.pid)
            waitingIdentity[p.ppid] = waiting.isEmpty ? nil : waiting
            if waiting.isEmpty { try setIdentity(parent, session: parentSession, ptys: ptys) }
        }
    }

    /// A stub that is the restorer's child (or, as `siblingOfRestorer`, its parent's), seized.
    private mutating func spawnRoot(pid: pid_t?, siblingOfRestorer: Bool, newPIDNamespace: Bool = false) throws -> (pid_t, RemoteSession) {
        let stub = try Stub.spawn(pid: pid, siblingOfRestorer: siblingOfRestorer, newPIDNamespace: newPIDNamespace)
        spawned.append(stub)
        seccompSuspended = try Stub.capture(stub) && seccompSuspended
        let regs = try Ptrace.registers(stub)
        let maps = try ProcMaps.parse(try Sys.readText("/proc/\(stub)/maps"))
        return (stub, try Self.session(for: stub, instruction: try SyscallInjector.findInstruction(pid: stub, registers: regs, maps: maps)))
    }

    /// The first process with new PIDs and --restore-sid or --restore-pgid,
    /// its session (group) gone: BLCR gives it the original ID all the same
    /// (its pid_restore test). A helper stub with that ID leads the session
    /// (setsid) or the group (setpgid) and forks the process as its own
    /// parent's child (CLONE_PARENT), then exits; the session and group live
    /// on in the process. Nil where the ID is taken or this user may not
    /// choose IDs (it then gets a session or group of its own, as before).
    /// For cr_request_restart() the process is its caller's child, and so is
    /// the helper: a zombie holding the ID until the caller reaps it, which
    /// libcr does (`leftForCaller`, named in the restart's notes).
    private mutating func spawnInOriginalGroup(_ p: ProcessState) throws -> (pid_t, RemoteSession)? {
        let session = options.restoreSID && p.sid == p.pid, group = options.restorePGID && p.pgid == p.pid
        guard p.pid == eldest, !options.restorePID, session || group, !rootMakesPIDNamespace,
              PIDNamespace.canChoosePIDs, !PIDNamespace.entered, kill(p.pid, 0) != 0 && errno == ESRCH else { return nil }
        let id = p.pid
        // (clone3 takes no exit signal with CLONE_PARENT: the child's is the helper's, SIGCHLD.)
        let made = try forkThroughHelper(helperID: id, stubID: nil, helperIsSibling: options.parentIsCaller,
                                         flags: CloneFlags.parent, exitSignal: 0) { helper in
            if session { try helper.call("setsid for session \(id)", NR.setsid) } else { try helper.call("setpgid for group \(id)", NR.setpgid, 0, 0) }
        }
        if options.parentIsCaller { leftForCaller.append(id) }
        spawned.append(made.0)
        inOriginalGroup.insert(p.pid)
        return made
    }

    /// A stub forked by a helper stub (our child, `helperID` if given) that
    /// runs `prepare` first, then exits and is reaped here (as its tracer
    /// only where it is our sibling: its parent reaps it then).
    private mutating func forkThroughHelper(helperID: pid_t?, stubID: pid_t?, helperIsSibling: Bool = false, flags: UInt64 = 0, exitSignal: Int32 = SIGCHLD,
                                            prepare: (RemoteSession) throws -> Void = { _ in }) throws -> (pid_t, RemoteSession) {
        let (helper, helperSession) = try spawnRoot(pid: helperID, siblingOfRestorer: helperIsSibling)
        try prepare(helperSession)
        let stub = try InjectedClone.run(in: helperSession, flags: flags, exitSignal: exitSignal, exactID: stubID, what: "process").outer
        let session = try Self.session(for: stub, instruction: helperSession.injector.instruction)
        try Self.exit(helper, status: 0, instruction: helperSession.injector.instruction)
        var status: Int32 = 0
        _ = waitpid(helper, &status, __WALL)
        spawned.removeAll { $0 == helper }
        return (stub, session)
    }

    /// Processes `spawnInOriginalGroup` placed: already in their session and group.
    private var inOriginalGroup: Set<pid_t> = []
    /// Helpers that exited as children of cr_request_restart()'s caller, for it to reap.
    private(set) var leftForCaller: [pid_t] = []

    /// A process that was a child of init (orphaned) and is not the one the
    /// restorer stands in as parent for: forked by a helper stub that then
    /// exits, so the kernel hands it to init (or to the PID namespace's
    /// reaper) as it had been (BLCR's orphan test). It stays traced, and
    /// killed if we die (PTRACE_O_EXITKILL is inherited by the fork).
    private mutating func spawnOrphan(_ p: ProcessState) throws -> (pid_t, RemoteSession) {
        let made = try forkThroughHelper(helperID: nil, stubID: ids(p.pid))
        orphans.append(made.0)
        return made
    }

    /// Once every live process exists: the zombies, forked from their parents
    /// and made to exit, then the borrowed group leaders dissolved.
    mutating func complete(_ processes: [ProcessState], zombies: [ZombieState]) throws {
        for z in zombies {
            guard let parent = sessions[z.ppid] else {
                warnings.append("zombie \(z.pid) has no parent in the image; it is not recreated")
                continue
            }
            if z.checkpointer && (!options.restorePID || kill(z.pid, 0) == 0 || errno == EPERM) {
                warnings.append("process \(z.ppid) ran the checkpointer (PID \(z.pid)) itself; that PID is not free here, so its wait will not find it")
                continue
            }
            if let leader = zombieLeaders[z.pid] {
                // Alive since its session's members were forked from it; its group is its own (setsid).
                zombieStubs.append(leader.outer)
                try Self.exit(leader.outer, status: z.waitStatus, instruction: leader.session.injector.instruction)
                reapedSignals[z.ppid] = true
                continue
            }
            let (stub, innerZombie) = try fork(from: parent, exactPID: ids(z.pid))
            zombieStubs.append(stub)
            if options.restoreSID && z.sid == z.pid {
                // It led a session (and so its group) of its own: it takes them again before it dies.
                try Self.session(for: stub, instruction: parent.injector.instruction).call("setsid of zombie \(z.pid)", NR.setsid)
            } else if options.restorePGID && z.pgid == z.pid {
                _ = try parent.raw(NR.setpgid, UInt64(innerZombie), UInt64(innerZombie))
            } else if options.restorePGID, let parentState = processes.first(where: { $0.pid == z.ppid }), z.pgid != parentState.pgid {
                // Its process group, set by its parent (a zombie keeps its group until reaped).
                if let group = try group(z.pgid, for: "zombie \(z.pid)", from: parent, parentPID: z.ppid) {
                    _ = try parent.raw(NR.setpgid, UInt64(innerZombie), UInt64(group))
                }
            }
            try Self.exit(stub, status: z.waitStatus, instruction: parent.injector.instruction)
            // The parent had its SIGCHLD for a real zombie already; the checkpointer's exit it has yet to hear of.
            if !z.checkpointer { reapedSignals[z.ppid] = true }
        }
        try waitForZombies()
        try dissolveGroupHolders()
    }

    /// A process group whose leader is not in the image: a helper of ours
    /// with that PID, forked from `parent` (same session), leads it while
    /// the members join, and is reaped by that parent afterwards. Returns
    /// the group's PID as the processes see it, or nil (a warning) if it
    /// cannot be made.
    mutating func group(_ pgid: pid_t, for who: String, from parent: RemoteSession, parentPID: pid_t) throws -> pid_t? {
        if let leader = inner[pgid] { return leader }
        if let holder = groupHolders.first(where: { $0.pgid == pgid }) { return holder.inner }
        if let leader = zombieLeaders[pgid] { return leader.inner }
        if livePIDs.contains(pgid) {
            warnings.append("process group \(pgid) of \(who) is led by a process made after it; it stays in its parent's group")
            return nil
        }
        guard let wanted = ids(pgid), !zombiePIDs.contains(pgid) else {
            let outside = ids.ownNamespace ? " (nor in its PID namespace)" : ""
            warnings.append("process group \(pgid) of \(who) is not in the image\(outside); it stays in its parent's group")
            return nil
        }
        // Its ID is a process's outside the image (the group of the shell that
        // started the tree): the caller's warning says the member stays put.
        if !ids.ownNamespace && (kill(wanted, 0) == 0 || errno == EPERM) { return nil }
        let (outer, innerID) = try fork(from: parent, exactPID: wanted)
        _ = try parent.raw(NR.setpgid, UInt64(innerID), UInt64(innerID))
        groupHolders.append((pgid, outer, innerID, parent, parentPID))
        return innerID
    }

    /// A stub is born in the time namespace its parent's children are born
    /// in; its own children's goes where the image says (TimeNamespaceFactory).
    private mutating func placeTimeNamespace(_ p: ProcessState, stub: pid_t, session: RemoteSession) throws {
        guard let time else { return }
        let born = timeChildren[p.ppid] ?? restorerChildrenInTime
        if p.timeNamespace.own != born {
            warnings.append("process \(p.pid) lived \(p.timeNamespace.own ? "in" : "outside") the image's time namespace and is restored \(born ? "in" : "outside") it: its monotonic and boot clocks differ by the namespace's offsets")
        }
        timeChildren[p.pid] = p.timeNamespace.children == born ? born
            : try time.placeChildren(inside: p.timeNamespace.children, of: session, stub: stub, who: p.pid)
    }

    /// An orphan that a PID namespace's init inherited, in another session
    /// than the init's (zdtm session00): forked by a holder of ours in that
    /// session, so that when the holders go (`dissolveGroupHolders`) it falls
    /// back to the init, its parent as it was. A session whose leader is gone
    /// gets a holder with the session's ID, forked from the init, that calls
    /// setsid; one whose leader is in the image, a holder forked from that
    /// leader, at an ID no process of the image has. nil when none is needed
    /// (or none can be had: the process then stays in the init's session).
    private mutating func orphanSession(_ p: ProcessState, parent: RemoteSession, among processes: [ProcessState]) throws -> RemoteSession? {
        guard heldAsOrphan(p, among: processes) else { return nil }
        if let holder = sessionHolders[p.sid] { return holder }
        let from: RemoteSession, fromPID: pid_t, wanted: pid_t, leads: Bool
        if processes.contains(where: { $0.pid == p.sid }) {
            guard let leader = sessions[p.sid] else { return nil }
            if spareID == 0 { spareID = (ids.namespace.values.max() ?? 1) + 1 }
            (from, fromPID, wanted, leads) = (leader, p.sid, spareID, false)
            spareID += 1
        } else {
            guard let id = ids(p.sid), !zombiePIDs.contains(p.sid) else { return nil }
            (from, fromPID, wanted, leads) = (parent, p.ppid, id, true)
        }
        let (outer, innerID) = try fork(from: from, exactPID: wanted)
        let holder = try Self.session(for: outer, instruction: from.injector.instruction)
        if leads { try holder.call("setsid", NR.setsid) }
        // Only a holder that leads the session leads its group too (`group` finds it).
        groupHolders.append((leads ? p.sid : 0, outer, innerID, from, fromPID))
        sessionHolders[p.sid] = holder
        return holder
    }

    /// Whether `orphanSession` makes `p` (an orphan of the namespace's init in another session).
    private func heldAsOrphan(_ p: ProcessState, among processes: [ProcessState]) -> Bool {
        guard ids.ownNamespace, options.restoreSID, p.ppid == eldest, p.sid != p.pid, let root = processes.first else { return false }
        return p.sid != root.sid
    }

    /// A process in a session whose leader is gone, whose parent is in
    /// another session (zdtm session02: a process calls setsid, forks with
    /// CLONE_PARENT and exits; its children live on in its session with its
    /// parent as theirs). No process can join a session but by birth, so a
    /// holder forked from the parent at the session's ID calls setsid and
    /// forks the process with CLONE_PARENT: born in that session, child of
    /// its own parent. The holder goes with the group holders (reaped by
    /// the parent before anything runs). One holder a session: a member
    /// with another parent stays in its parent's session (a warning).
    /// A process sharing pages with its parent needs a holder forked after
    /// the parent's memory was restored (what it inherits is the holder's).
    private mutating func goneLeaderSession(_ p: ProcessState, parent: RemoteSession, sharesParentMemory: Bool) throws -> RemoteSession? {
        // A leader of its own session now is born in the one a child of it needs (SessionOrder).
        guard options.restoreSID, let sid = birthSessions[p.pid], sid != p.pid, !livePIDs.contains(sid),
              let wanted = ids(sid) else { return nil }
        // A leader that is a zombie now, child of the same parent: it is the holder, and stays (as the zombie).
        let zombie = zombieStates[sid]
        if let z = zombie, z.ppid != p.ppid || z.sid != z.pid || z.checkpointer { return nil }
        // Already there by birth (its parent is in that session now).
        let parentSession = try parent.raw(NR.getsid, 0)
        guard parentSession != Int64(wanted) else { return nil }
        if let holder = sessionHolders[sid] {
            let forParent = goneLeaderParents[sid] == p.ppid
            guard forParent, !sharesParentMemory || heldAfterParentMemory.contains(sid) else {
                let why = forParent ? "is held by a process forked before the memory it shares with its parent \(p.ppid) was restored"
                    : "is held for the children of process \(goneLeaderParents[sid] ?? 0), not of its parent \(p.ppid)"
                warnings.append("process \(p.pid): session \(sid) (leader gone) \(why); it is born in its parent's session" + (p.sid == sid ? " and stays in its parent's group" : ""))
                if p.sid == sid { outsideOwnSession.insert(p.pid) }
                return nil
            }
            return holder
        }
        let (outer, innerID) = try fork(from: parent, exactPID: wanted)
        let holder = try Self.session(for: outer, instruction: parent.injector.instruction)
        try holder.call("setsid", NR.setsid)
        if zombie != nil { zombieLeaders[sid] = (outer, innerID, holder) } else { groupHolders.append((sid, outer, innerID, parent, p.ppid)) }
        sessionHolders[sid] = holder
        goneLeaderParents[sid] = p.ppid
        if sharesParentMemory { heldAfterParentMemory.insert(sid) }
        return holder
    }

    /// A process in a session whose leader is in the image, whose parent is
    /// in another session (zdtm session03: a leader's grandchild whose own
    /// parent exited, handed to a subreaper above the leader). No process
    /// joins a session but by birth: a process of the image already in that
    /// session whose parent is the same one forks it with CLONE_PARENT, so it
    /// is born there as its parent's child. A process that shares pages
    /// with its parent (copy-on-write) needs a sibling whose memory is still
    /// the parent's (`forkLater` makes it right after that sibling). nil
    /// when there is no such sibling yet, or it sits in other namespaces
    /// than the parent (`setIdentity` then leaves it where it was born).
    private func sessionSibling(_ p: ProcessState, among processes: [ProcessState], sharesParentMemory: Bool) throws -> RemoteSession? {
        guard options.restoreSID, let sid = birthSessions[p.pid], sid != p.pid, let wanted = madeLeader(sid),
              let parent = sessions[p.ppid], p.filesSharedWith == 0 else { return nil }
        // A parent placed in that very session already (no call needed to see it).
        if let parentState = processes.first(where: { $0.pid == p.ppid }), parentState.sid == sid, waitingIdentity[p.ppid] == nil { return nil }
        guard try parent.raw(NR.getsid, 0) != Int64(wanted) else { return nil }
        // Only one whose own session is that one can be in it now (a leader waiting to take its own is not asked).
        for x in processes where x.ppid == p.ppid && x.pid != p.pid && x.sid == sid && !sharedTables.contains(x.pid) {
            guard let candidate = sessions[x.pid], forkedByHolder[x.pid] == nil, waitingIdentity[x.pid] == nil,
                  !sharesParentMemory || asParentLeftIt.contains(x.pid),
                  bornAlike(x.pid, p.ppid), try candidate.raw(NR.getsid, 0) == Int64(wanted) else { continue }
            return candidate
        }
        return nil
    }

    /// A process in a session whose leader is in the image, whose parent
    /// inherited it (a subreaper, its own parent gone) or got it by a
    /// CLONE_PARENT fork whose maker is gone, and has no child in that
    /// session (so no `sessionSibling`): a holder forked from a process in
    /// the session below the parent forks it and is killed, and the parent,
    /// made a subreaper for this, inherits it. Stubs take no subreaper flag
    /// of the image's before their restore, so the orphan climbs to the
    /// parent, those made so here on the way (`subreapersNow`) made none
    /// for that moment; a parent that was no subreaper in the image is made
    /// none again at once. A process sharing pages with its parent inherits another
    /// process's memory this way: it is marked in `inheritsElsewhere`.
    /// nil: none found (the process then stays in its parent's session, a warning).
    private mutating func adoptedMember(_ p: ProcessState, among processes: [ProcessState]) throws -> (pid_t, RemoteSession)? {
        guard options.restoreSID, let sid = birthSessions[p.pid], sid != p.pid, p.filesSharedWith == 0,
              let parent = sessions[p.ppid], let parentStub = stubs[p.ppid],
              let wanted = try madeLeader(sid) ?? zombieLeaderEarly(sid),
              try parent.raw(NR.getsid, 0) != Int64(wanted) else { return nil }
        let byPID = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        // The processes from a member up to the parent (nil: the parent is not above it).
        func pathToParent(_ pid: pid_t, _ ppid: pid_t) -> [pid_t]? {
            var (path, up) = ([pid], ppid)
            while up != p.ppid {
                guard let next = byPID[up], path.count <= processes.count else { return nil }
                path.append(next.pid)
                up = next.ppid
            }
            return path
        }
        // The session's members made so far, and its leader if it is a zombie made early.
        var members: [(pid: pid_t, ppid: pid_t, from: RemoteSession)] = processes.compactMap { m in
            guard m.sid == sid, m.pid != p.pid, let from = sessions[m.pid], waitingIdentity[m.pid] == nil else { return nil }
            return (m.pid, m.ppid, from)
        }
        if let z = zombieLeaders[sid], let state = zombieStates[sid] { members.append((sid, state.ppid, z.session)) }
        for m in members {
            let from = m.from
            // A subreaper made so on the way up would stop the orphan: none for this moment.
            // (None a holder's child: the orphan would climb through that holder, not the parent the image says.)
            guard let path = pathToParent(m.pid, m.ppid), !path.contains(where: holdersChildren.contains), bornAlike(m.pid, p.ppid) else { continue }
            let blockers = path.compactMap { subreapersNow.contains($0) ? sessions[$0] : nil }
            guard blockers.count == path.filter(subreapersNow.contains).count,
                  try from.raw(NR.getsid, 0) == Int64(wanted) else { continue }
            // The parent takes orphans from now on (its restore sets that again where the image says so).
            let keepsOrphans = byPID[p.ppid]?.childSubreaper ?? false
            if !subreapersNow.contains(p.ppid) { try parent.prctl(.setChildSubreaper, 1) }
            if keepsOrphans { subreapersNow.insert(p.ppid) }
            for b in blockers { try b.prctl(.setChildSubreaper, 0) }
            defer { for b in blockers { _ = try? b.prctl(.setChildSubreaper, 1) } }
            let (holderOuter, holderInner) = try fork(from: from, exactPID: holderID(among: processes))
            let holder = try Self.session(for: holderOuter, instruction: from.injector.instruction)
            let stub = try fork(from: holder, exactPID: ids(p.pid)).outer
            let session = try Self.session(for: stub, instruction: holder.injector.instruction)
            kill(holderOuter, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(holderOuter, &status, __WALL)  // as its tracer first
            _ = try from.raw(NR.wait4, UInt64(holderInner), 0, UInt64(__WALL), 0)
            reapedSignals[m.pid] = true
            guard (try? ProcStat.read(pid: stub))?.ppid == parentStub else {
                throw CheckpointError(ESRCH, "process \(p.pid): its parent \(p.ppid) did not inherit it from the holder that made it in session \(sid)")
            }
            if !keepsOrphans { try parent.prctl(.setChildSubreaper, 0) }
            if p.mappings.contains(where: { !$0.inheritedRuns.isEmpty }) { inheritsElsewhere.insert(p.pid) }
            return (stub, session)
        }
        return nil
    }

    /// A zombie that led the session a member is to be born in, made alive
    /// now as its parent's child (its parent made already) to call setsid,
    /// so that a holder under it can make the member (`adoptedMember`); it
    /// exits in `complete` as the other `zombieLeaders`. Its ID as members see it.
    private mutating func zombieLeaderEarly(_ sid: pid_t) throws -> pid_t? {
        guard let z = zombieStates[sid], z.sid == z.pid, !z.checkpointer, zombieLeaders[sid] == nil, sessionHolders[sid] == nil,
              let parent = sessions[z.ppid] else { return nil }
        let (outer, innerID) = try fork(from: parent, exactPID: ids(sid))
        let session = try Self.session(for: outer, instruction: parent.injector.instruction)
        try session.call("setsid of zombie \(sid)", NR.setsid)
        zombieLeaders[sid] = (outer, innerID, session)
        // Members with its parent are forked from it too (`goneLeaderSession`).
        sessionHolders[sid] = session
        goneLeaderParents[sid] = z.ppid
        if restored.contains(z.ppid) { heldAfterParentMemory.insert(sid) }
        return innerID
    }

    /// The ID a session the image's live process or zombie (made early, see
    /// `zombieLeaders`) leads has, as its members see it; nil if not made yet.
    private func madeLeader(_ sid: pid_t) -> pid_t? {
        livePIDs.contains(sid) ? inner[sid] : zombieLeaders[sid]?.inner
    }

    /// Whether a child `a` forks is born in the namespaces (cgroup, UTS,
    /// IPC, network, mount and time) a child of `b` would be: only then can
    /// `a` give birth in `b`'s stead.
    private func bornAlike(_ a: pid_t, _ b: pid_t) -> Bool {
        let now = { (pid: pid_t) in [self.namespacesNow[pid] ?? [0, 0, 0, 0], [self.mountNamespace[pid] ?? 0]] }
        let time = { (pid: pid_t) in self.timeChildren[pid] ?? self.restorerChildrenInTime }
        return now(a) == now(b) && time(a) == time(b)
    }

    /// An ID for a passing holder that no process of the image is yet to
    /// get (nil: any, where the IDs are new): in a namespace of the image's
    /// the next spare one, else a free one above all of the image's.
    private mutating func holderID(among processes: [ProcessState]) -> pid_t? {
        if ids.ownNamespace {
            if spareID == 0 { spareID = (ids.namespace.values.max() ?? 1) + 1 }
            defer { spareID += 1 }
            return spareID
        }
        guard ids.exact else { return nil }
        var id = processes.flatMap { [$0.pid] + $0.threads.map(\.tid) }.max() ?? 300
        for _ in 0..<1000 {
            id += 1
            if kill(id, 0) != 0 && errno == ESRCH { return id }
        }
        return nil
    }

    /// The group holders go: killed, and reaped by the parent they were
    /// forked from (so no process of the image ever sees them).
    mutating func dissolveGroupHolders() throws {
        // Last made first: a group holder forked from a session holder is reaped by it while it lives.
        for h in groupHolders.reversed() {
            kill(h.outer, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(h.outer, &status, Int32(__WALL))  // as its tracer first
            // Through the parent's session now (a stub's is gone with its memory once restored).
            let parent = h.parentPID != 0 ? sessions[h.parentPID] ?? h.parent : h.parent
            _ = try parent.raw(NR.wait4, UInt64(h.inner), 0, UInt64(__WALL), 0)
            if h.parentPID != 0 { reapedSignals[h.parentPID] = true }  // its SIGCHLD is not the process's (0: a holder's child)
        }
        groupHolders = []
        sessionKeepers = [:]
        sessionHolders = [:]
        forkedByHolder = [:]
        goneLeaderParents = [:]
    }

    /// A session and scratch page for a fresh stub (its memory is still the restorer's copy).
    static func session(for stub: pid_t, instruction: UInt64) throws -> RemoteSession {
        let s = RemoteSession(pid: stub, injector: SyscallInjector(tid: stub, instruction: instruction, template: try Ptrace.registers(stub)))
        s.scratch = try s.mmap(0, 4096, protection: UInt64(PROT_READ | PROT_WRITE), flags: UInt64(MAP_PRIVATE | MAP_ANONYMOUS), what: "scratch")
        s.scratchSize = 4096
        return s
    }

    /// Forks a child of the stub behind `parent` (auto-attached, stopped).
    func fork(from parent: RemoteSession, exactPID: pid_t?, flags: UInt64 = 0) throws -> (outer: pid_t, inner: pid_t) {
        // With CLONE_PARENT the child takes the caller's exit signal; clone3 wants none given.
        try InjectedClone.run(in: parent, flags: flags, exitSignal: flags & CloneFlags.parent != 0 ? 0 : SIGCHLD, exactID: exactPID, what: "process")
    }

    /// Whether `p` shared the fd table its parent was in (the parent's own, or the one it shared).
    mutating func sharesParentTable(_ p: ProcessState, among processes: [ProcessState]) -> Bool {
        guard p.filesSharedWith != 0 else { return false }
        let parentTable = processes.first { $0.pid == p.ppid }.map { $0.filesSharedWith != 0 ? $0.filesSharedWith : $0.pid }
        if parentTable == p.filesSharedWith { return true }
        warnings.append("process \(p.pid) shared the fd table of process \(p.filesSharedWith), not its parent's: it gets a copy of its own")
        return false
    }

    /// Session and group, per --restore-sid and --restore-pgid.
    mutating func setIdentity(_ p: ProcessState, session: RemoteSession, ptys: PtyFactory? = nil) throws {
        if inOriginalGroup.contains(p.pid) {
            // In the helper's session and group: a group of its own unless the original one was asked for.
            if !options.restorePGID { try session.call("setpgid of process \(p.pid)", NR.setpgid, 0, 0) }
            return
        }
        var leadsGroup = false
        if options.restoreSID && p.sid == p.pid {
            try session.call("setsid", NR.setsid)
            leadsGroup = true
            // Its controlling terminal, before it forks (children inherit it): a
            // session leader with none that opens a terminal without O_NOCTTY gets it.
            if let t = p.terminal.first, let n = PtyMasters.ptsIndex(ttyNumber: t), let ptys, ptys.has(index: n) {
                let path = ptys.path(index: n)
                let fd = try session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), try session.putString(path), UInt64(O_RDWR | O_CLOEXEC), 0)
                if fd >= 0 { _ = try session.raw(NR.close, UInt64(fd)) } else {
                    warnings.append("process \(p.pid): its controlling terminal \(path) could not be taken again: \(errorText(Int32(-fd)))")
                }
            }
        }
        if !options.restoreSID && p.sid == p.pid, let t = p.terminal.first, let n = PtyMasters.ptsIndex(ttyNumber: t), ptys?.has(index: n) == true {
            // BLCR's default, kept; but a terminal's session (a tmux pane's
            // shell) would come back deaf to it without a word.
            warnings.append("process \(p.pid) led a session with /dev/pts/\(n) as its controlling terminal: without --restore-sid it joins cr_restart's session and has no terminal (Ctrl-C, job control and hangups do not reach it)")
        }
        guard options.restorePGID, !(leadsGroup && p.pgid == p.pid), !outsideOwnSession.contains(p.pid) else { return }
        // Born outside its session (no process found to be born from there):
        // setpgid cannot join a group of another session.
        if options.restoreSID, p.sid != p.pid, p.pgid != p.pid, livePIDs.contains(p.sid) || zombiePIDs.contains(p.sid),
           let wanted = inner[p.sid] ?? ids(p.sid), try session.raw(NR.getsid, 0) != Int64(wanted) {
            warnings.append("process \(p.pid) could not be born in its session \(p.sid) (its parent \(p.ppid) is in another, and no process of that session shares its parent): it stays in its parent's session and group")
            return
        }
        if p.pgid == p.pid {
            try session.call("setpgid of process \(p.pid) to group \(p.pgid)", NR.setpgid, 0, 0)
        } else if let leader = inner[p.pgid] {
            try session.call("setpgid of process \(p.pid) to group \(p.pgid)", NR.setpgid, 0, UInt64(leader))
        } else if let holder = forkedByHolder[p.pid], let group = try group(p.pgid, for: "process \(p.pid)", from: holder, parentPID: 0) {
            // Its parent (init) is in another session, where setpgid could not join the group.
            try session.call("setpgid of process \(p.pid) to group \(p.pgid)", NR.setpgid, 0, UInt64(group))
        } else if let parent = sessions[p.ppid], let group = try group(p.pgid, for: "process \(p.pid)", from: parent, parentPID: p.ppid) {
            try session.call("setpgid of process \(p.pid) to group \(p.pgid)", NR.setpgid, 0, UInt64(group))
        } else {
            warnings.append("process group \(p.pgid) of process \(p.pid) is not in the image; it stays in its parent's group")
        }
    }

    /// Lets a forked stub die the way the zombie died: into exit_group with its
    /// code, or by its signal (all signals were blocked in the stub).
    static func exit(_ stub: pid_t, status: Int32, instruction: UInt64) throws {
        let signal = status & 0x7f
        var regs = try Ptrace.registers(stub)
        regs.orig_rax = UInt64.max
        regs.rip = instruction
        if signal == 0 {
            regs.rax = UInt64(NR.exit_group)
            regs.rdi = UInt64((status >> 8) & 0xff)
        } else {
            regs.rax = UInt64(NR.pause)  // waits for the signal sent below
        }
        try Ptrace.setRegisters(stub, regs)
        try Ptrace.setSignalMask(stub, 0)
        try Ptrace.detach(stub)
        if signal != 0 { kill(stub, signal) }
    }

    /// The zombie stubs must be dead before their parents go on.
    func waitForZombies() throws {
        for z in zombieStubs {
            var tries = 0
            while (try? ProcStat.read(pid: z))?.state != "Z" {
                tries += 1
                if tries > 500 { throw CheckpointError(ETIMEDOUT, "recreated zombie \(z) did not exit") }
                usleep(2000)
            }
        }
    }

    /// Failure path: every stub goes, the ones we spawned are reaped. The
    /// others are reaped first as their tracer: a dying PID namespace init
    /// waits for its children, which wait for us to see them exit.
    func destroyAll() {
        let others = stubs.values.filter { !spawned.contains($0) && !orphans.contains($0) } + zombieStubs + groupHolders.map(\.outer)
            + zombieLeaders.values.map(\.outer).filter { !zombieStubs.contains($0) }
        for s in others { kill(s, SIGKILL) }
        var status: Int32 = 0
        for s in others { _ = waitpid(s, &status, __WALL) }
        for s in spawned + orphans { Stub.destroy(s) }
    }

}
