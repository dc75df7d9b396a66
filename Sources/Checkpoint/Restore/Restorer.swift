import AgentWire
import CheckpointImage
import Glibc
import LinuxKit
import Logging

public struct RestoreOptions: Sendable {
    /// Descriptors from 3 up that cr_restart was started with (BLCR: a pipe
    /// leading outside at such a number stays cr_restart's own descriptor).
    public var inheritedDescriptors: Set<Int32> = []
    /// libcr's cr_request_restart: the restored processes are children of the
    /// program that started cr_restart (BLCR), which then need not stay.
    public var parentIsCaller = false
    /// Give processes and threads their original IDs (BLCR's default; needs root here).
    public var restorePID = true
    /// BLCR's --restore-pgid and --restore-sid (both off by default: the
    /// restored processes join cr_restart's process group and session).
    public var restorePGID = false
    public var restoreSID = false
    /// cr_restart --stop, --cont, --term, --kill, -S: sent to the restored
    /// process once it runs (a SIGSTOP after its libcr restart callbacks),
    /// in place of the stop a process stopped at checkpoint time gets (BLCR).
    public var signalAfter: Int32 = 0
    /// When the original PIDs are wanted but this user may not choose PIDs,
    /// restore inside a new user+PID namespace (otherwise: fail with EPERM).
    public var allowNamespace = true
    /// --relocate: paths of the image moved elsewhere.
    public var relocation = PathRelocation()
    /// --tcp-close: established TCP connections come back as closed sockets
    /// (the descriptor stays valid) instead of being repaired or dropped.
    public var closeTCP = false
    /// --manage-cgroups: the processes and threads go back into the cgroups
    /// they were in (made again if gone); otherwise they stay in cr_restart's (BLCR).
    public var manageCgroups = false
    /// --cgroup-root: with --manage-cgroups, the image's cgroups are made under these.
    public var cgroupRoots: [CgroupRoot] = []
    /// The image's path, told to libcr (cr_get_restart_info).
    public var sourcePath = ""
    /// BLCR's --omit-*: processes omitted at checkpoint time are noted, passed over, or refused.
    public enum Omitted: Sendable { case note, quiet, refuse }
    public var omitted = Omitted.note
    /// A regular file the process had open that is gone now: the restart
    /// fails (BLCR), or it gets an empty file made again at its old path
    /// (at the saved offset), or /dev/null; both with a warning.
    public enum MissingFiles: String, Sendable, CaseIterable { case fail, recreate, devnull }
    public var missingFiles = MissingFiles.fail
    /// cr_restart --detach: the restored processes stay when cr_restart exits
    /// (in a PID namespace of ours, its PID 1 stays too and becomes their parent).
    public var detach = false
    /// Told what the restart waits for when a wait gets long (said without -v).
    public var notice: (@Sendable (String) -> Void)?
    /// Called with (image bytes read, image size) as the pages stream in, for a regular file.
    public var progress: (@Sendable (UInt64, UInt64) -> Void)?
    /// cr_restart --lazy: private anonymous memory comes in after the
    /// processes run (userfaultfd), through `RestoredProcess.lazyPager`.
    public var lazy = false
    /// --external: where restored network devices meet cr_restart's namespace.
    public var externalLinks: [ExternalLink] = []
    /// --parent-dir: where an incremental image's parents are looked for first.
    public var parentDirectory: String?
    /// Called with the eldest restored process's PID and every PID (original
    /// -> new) just before the processes are let go, so that cr_restart
    /// forwards a signal that comes the moment they run instead of dying of it.
    public var beforeRunning: (@Sendable (_ eldest: pid_t, _ pids: [pid_t: pid_t]) -> Void)?
    public init() {}
}

public struct RestoredProcess: Sendable {
    /// The eldest restored process: the one cr_restart waits for.
    public var pid: pid_t
    public var originalPID: pid_t
    public var command: String
    /// Original PID -> new PID of every restored process.
    public var pids: [pid_t: pid_t]
    public var warnings: [String]
    /// What the restorer decided on the user's behalf (e.g. a PID namespace).
    public var notes: [String] = []
    public var seconds: Double
    /// A lazy restore's pager: run it (`run()`) until every page is in.
    public var lazyPager: LazyPager?
}

/// Restarts a process tree from an image by system calls injected into stubs.
/// Stages: read every PROCESS/ZOMBIE record; fork the stub tree (IDs,
/// sessions, groups, zombies); per process prepare the address space; stream
/// the PAGES into their stubs; per process finish (files, signals, threads,
/// credentials, registers); detach everything.
public enum Restorer {
    public static func restore(from fd: Int32, options: RestoreOptions, log: Logger) throws -> RestoredProcess {
        let started = Clock.now
        // Where a restart's time goes, in the debug log (--verbose).
        var stages = StageTimes()
        let reader: ImageReader
        do { reader = try ImageReader(fd: fd) } catch let e as ImageError { throw Self.damaged(e, options.sourcePath) }
        var header: RestartHeader
        do {
            header = try RestartHeader.read(reader, relocation: options.relocation)
            if let refusal = header.refusal(machine: MachineInfo.machine, uid: getuid()) { throw refusal }
        } catch let e as ImageError {
            throw Self.damaged(e, options.sourcePath)
        } catch let r as RestartHeader.Refusal {
            throw CheckpointError(Self.code(r), r.description)
        }
        if header.inventory.preDump {
            throw CheckpointError(EINVAL, "\(options.sourcePath.isEmpty ? "the image" : options.sourcePath) is a pre-dump (memory read while the processes ran): restart from an image made with --parent")
        }
        var notes: [String] = []
        let omittedPIDs = header.tree.omittedPIDs
        if !omittedPIDs.isEmpty {
            let list = omittedPIDs.map(String.init).joined(separator: ", ")
            switch options.omitted {
            case .refuse: throw CheckpointError(BLCRCode.restartAborted, "processes \(list) were omitted from this image at checkpoint time (--omit-never)")
            case .note: notes.append("processes \(list) were omitted at checkpoint time and are not restarted")
            case .quiet: break
            }
        }
        var options = options
        if options.parentIsCaller && options.restorePID && !options.allowNamespace && !PIDNamespace.canChoosePIDs && !header.tree.ownPIDNamespace {
            // cr_request_restart(): its caller waits for the restored process,
            // which must be its child; without a PID namespace of ours the PIDs are new.
            options.restorePID = false
            notes.append("uid \(getuid()) may not choose PIDs here, and cr_request_restart()'s caller must be the restored process's parent: restarting with new PIDs")
        }
        // A whole PID namespace comes back in a new one, where every ID is free.
        let ids: RequestedIDs
        if header.tree.ownPIDNamespace {
            let user = !PIDNamespace.canChoosePIDs
            // A user needs a user namespace too, which the restorer must enter itself.
            if user { try PIDNamespace.enter(forImage: true) }
            notes.append("the image holds a whole PID namespace: restarting it in a new \(user ? "user and PID namespace" : "PID namespace"), its init as PID 1 there"
                         + (options.restorePID ? "" : " (the processes keep their IDs there: --no-restore-pid does not apply)"))
            options.restorePID = true
            ids = RequestedIDs(exact: true, namespace: header.tree.namespaceIDs)
        } else {
            ids = RequestedIDs(exact: options.restorePID)
        }
        // New PIDs cannot take a group or session that still exists (BLCR: EBUSY).
        if options.restorePGID && !options.restorePID, let g = Self.idInUse(Set(header.processes.map(\.pgid)), by: \.pgrp) {
            throw CheckpointError(EBUSY, "process group \(Self.describe(g)) still exists: with --no-restore-pid the restored processes cannot take it back (--restore-pgid)")
        }
        if options.restoreSID && !options.restorePID, let s = Self.idInUse(Set(header.processes.map(\.sid)), by: \.session) {
            throw CheckpointError(EBUSY, "session \(Self.describe(s)) still exists: with --no-restore-pid the restored processes cannot take it back (--restore-sid)")
        }
        if options.restorePID && PIDNamespace.canChoosePIDs && !ids.ownNamespace {
            let waited = ExitingHolders.wait(for: header.processes.flatMap { p in [p.pid] + p.threads.map(\.tid) } + header.zombies.map(\.pid),
                                             notice: options.notice)
            if waited > 0 { log.info("waited \(Int(waited * 1000)) ms for the original's unreaped zombies to free their PIDs") }
        }
        if options.restorePID && options.allowNamespace && !PIDNamespace.canChoosePIDs && !ids.ownNamespace {
            // The namespace would have every ID free, but the original still
            // running here is refused as root's restart refuses it (BLCR: EBUSY,
            // a temporary failure), so a user's restart fails where root's does.
            if let taken = PIDNamespace.heldByOriginal(header.processes) {
                throw CheckpointError(EBUSY, "PID \(taken) is already in use; restart with --no-restore-pid or free it")
            }
            // cr_request_restart()'s caller is the restored process's parent: PID 1 must outlive us.
            try PIDNamespace.enter(detach: options.detach || options.parentIsCaller)
            notes.append("uid \(getuid()) may not choose PIDs here: restarting in a new user and PID namespace, where the processes keep their original PIDs")
        }

        // From here on the next section is read and checked on a thread of its
        // own while the pages of one go into their process. Not in a PID
        // namespace of ours: unshare(CLONE_NEWUSER) wants one thread, and
        // after unshare(CLONE_NEWPID) the kernel refuses new threads (EINVAL).
        var lazyFeatures: UInt64?, traceForks = false
        if options.lazy {
            switch LazyProbe.check(fd: fd) {
            case .success(let found): (lazyFeatures, traceForks) = (found.features, found.traceForks)
            case .failure(let why): notes.append("--lazy: \(why); restoring eagerly")
            }
        }
        reader.readAhead = !PIDNamespace.entered && lazyFeatures == nil
        reader.loadPages = lazyFeatures == nil
        // An incremental image: its parents are opened and checked before anything is made.
        let chain = header.inventory.parent == nil ? nil
            : try ParentChain(inventory: header.inventory, imagePath: options.sourcePath, parentDir: options.parentDirectory)
        defer { chain?.close() }
        var pin = CPUPin()
        pin.pinCurrentCPU()
        // Pool threads made by this pinned thread inherit its CPU: workers take every CPU back first.
        reader.prepareWorkerThread = CPUPin.freePoolThread
        var tree = StubTree(options: options, ids: ids, log: log)
        tree.rootMakesPIDNamespace = ids.ownNamespace && !PIDNamespace.entered
        tree.mounts = MountNamespaceFactory(namespaces: header.tree.mountNamespaces, processes: header.processes)
        if options.manageCgroups { CgroupRoot.relocate(&header.processes, &header.tree, options.cgroupRoots) }
        let cgroups = options.manageCgroups ? CgroupPlacer(namespaces: header.tree.cgroupNamespaces, settings: header.tree.cgroupSettings) : nil
        if !options.manageCgroups && !header.tree.cgroupNamespaces.isEmpty {
            notes.append("the image has cgroup namespaces, which come back with --manage-cgroups only: its processes are in cr_restart's")
        }
        tree.cgroups = cgroups
        tree.uts = UTSNamespaceFactory(namespaces: header.tree.utsNamespaces)
        // An IPC namespace's limits go in as it is made (its queues and segments may need them), its next IDs after its objects.
        let ipcSettings = header.tree.ipcSettings
        let ipcStubs = NamespaceStubs()
        let ipc = RestorerMadeNamespaces(kind: "ipc", flag: CloneFlags.newIPC, count: header.tree.ipcNamespaces, what: "IPC namespaces") { k, stub in
            ipcStubs.pids[k] = stub.pid
            try Self.writeIPCSettings(ipcSettings, namespace: k, only: IPCNamespaceSettings.limits, stub: stub.pid)
        }
        tree.ipc = ipc
        let nets = header.tree.netNamespaces
        // Devices that may join two namespaces, addresses and settings wait until every namespace is made (netStubs).
        let netStubs = NamespaceStubs()
        let net = RestorerMadeNamespaces(kind: "net", flag: CloneFlags.newNet, count: nets.count, what: "network namespaces") { k, stub in
            netStubs.pids[k] = stub.pid
            if nets[k - 1].loopbackUp { try RestorerMadeNamespaces.loopbackUp(in: stub) }
            try TunDeviceMaker.make(nets[k - 1].tunDevices, in: stub)
        }
        tree.net = net
        if let time = TimeNamespaceFactory(offsets: header.tree.timeOffsets) {
            tree.time = time
            if header.processes.first?.timeNamespace.own == true {
                do {
                    try time.enterForRestorerChildren()
                    tree.restorerChildrenInTime = true
                } catch {
                    notes.append("\(error); the processes use this machine's monotonic and boot clocks")
                }
            }
        }
        defer { pin.release(Array(tree.stubs.values)) }
        let ptys = PtyFactory(processes: header.processes)
        defer { ptys.close() }
        do {
            // Children that share pages with their parent are forked once its memory is back.
            let later = Self.forkedAfterParentMemory(header.processes)
            stages.lap("header")
            // User namespaces of their own first: the network, IPC and UTS
            // namespaces that belong to one are made inside it. (Each maker is
            // a child of ours gone before any stub is forked, so it holds no PID the image needs.)
            let userNamespaces = Set(header.processes.map(\.userNamespace).filter { $0 != 0 })
            if let k = userNamespaces.first(where: { $0 > header.tree.userNamespaces.count }) {
                throw CheckpointError(EINVAL, "a process is in user namespace \(k) of an image that has \(header.tree.userNamespaces.count)")
            }
            let users = UserNamespaceFactory(namespaces: header.tree.userNamespaces)
            try users?.make(userNamespaces)
            if let users {
                func owners(_ flag: UInt64) -> [pid_t: Int32] {
                    Dictionary(uniqueKeysWithValues: header.processes.compactMap { p in
                        p.ownedByUserNamespace & flag == 0 ? nil : users.entry(p.userNamespace).map { (p.pid, $0.descriptor) }
                    })
                }
                // Joining one (and making its objects from inside) needs CAP_SYS_ADMIN
                // where the stub and we are: not a user's without a user namespace of the restart's.
                if geteuid() == 0 || PIDNamespace.entered {
                    tree.uts?.makeInside(owners(CloneFlags.newUTS))
                    ipc?.makeInside(owners(CloneFlags.newIPC))
                    net?.makeInside(owners(CloneFlags.newNet))
                    tree.mounts?.owners = Dictionary(header.processes.compactMap { p in
                        p.ownedByUserNamespace & CloneFlags.newMount == 0 || p.mountNamespace == 0 ? nil
                            : users.entry(p.userNamespace).map { (p.mountNamespace, $0.descriptor) }
                    }, uniquingKeysWith: { first, _ in first })
                }
            }
            try tree.build(header.processes, zombies: header.zombies, later: later, ptys: ptys)
            stages.lap("stubs")
            let shared = SharedMemoryFactory(processes: header.processes)
            defer { shared.close() }
            // One factory per IPC namespace, each run from inside its namespace.
            let sysv = (0...header.tree.ipcNamespaces).map { ns in
                SysVFactory(objects: header.tree.sysvObjects.filter { $0.namespace == ns },
                            hugePageSizes: SysVFactory.hugePageSizes(header.processes, namespace: ns), log: log)
            }
            func within<T>(_ ns: Int, _ body: () throws -> T) throws -> T { try ipc.map { try $0.within(ns, body) } ?? body() }
            func inNetwork<T>(_ ns: Int, _ body: () throws -> T) throws -> T { try net.map { try $0.within(ns, body) } ?? body() }
            // Unlinked files, made before the memory: a private mapping may be of one.
            let unlinked = UnlinkedFileFactory(processes: header.processes)
            unlinked.mountNamespaces = tree.mounts
            defer { unlinked.close() }
            var restores: [ProcessRestore] = []
            var pages = PageStream(reader: reader, first: header.firstPages)
            let loader = PagesSectionLoader(fd: fd)
            // Which private anonymous memory may wait (lazy), or go in by UFFDIO_COPY (eager).
            let memoryPlan = LazyPlan(processes: header.processes, cowShared: LazyPlan.cowShared(header.processes))
            let plan = lazyFeatures == nil ? nil : memoryPlan
            if let plan { pages.lazy = (plan, loader) }
            let copyFill = plan == nil && !Self.plainWrites ? CopyFill() : nil
            let userModeFill = copyFill != nil && LazyProbe.userModeOnly
            pages.copyFill = copyFill
            // From a file, plain page data is mapped, not read (not in a PID namespace of ours: no threads).
            if plan == nil && reader.readAhead && Self.mappedPages && header.firstPages?.runs.first?.compressed != true && Self.isRegularFile(fd),
               let fill = MappedFill(fd: fd, threads: ImageReader.cores, prepareThread: CPUPin.freePoolThread) {
                reader.readAhead = false
                reader.loadPages = false
                pages.mapped = (fill, loader)
            }
            let mappedFill = pages.mapped?.fill
            // Compressed frames are decompressed and written on every core (not in a PID namespace of ours: no threads).
            if reader.readAhead && Self.frameFill {
                reader.leaveFramesCompressed = true
                pages.frameFill = FrameFill(threads: ImageReader.cores, prepareThread: CPUPin.freePoolThread)
            }
            let frameFill = pages.frameFill
            // No worker may still write through a userfaultfd being closed.
            defer { frameFill?.drain(); mappedFill?.close(); copyFill?.close() }
            var st = stat()
            if let report = options.progress, fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size > 0 {
                let size = UInt64(st.st_size)
                pages.progress = { report($0, size) }
            }
            for p in header.processes {
                if tree.stubs[p.pid] == nil {
                    try pages.seal(p.ppid)
                    try tree.forkLater(p, among: header.processes, ptys: ptys)
                }
                guard let stub = tree.stubs[p.pid], let inner = tree.inner[p.pid] else { continue }
                let copiesInherited = tree.inheritsElsewhere.contains(p.pid)
                let r = try ProcessRestore(stub: stub, innerPID: inner, process: copiesInherited ? InheritedPagesCopy.ownEveryPage(p) : p,
                                           inventory: header.inventory, log: log)
                r.cgroups = cgroups
                // Its segments are attached from inside its IPC namespace.
                if p.ipcNamespace != 0 { try tree.placeWaitingNamespaces(p.pid, among: header.processes) }
                let ns = sysv.indices.contains(p.ipcNamespace) ? p.ipcNamespace : 0
                // Entered only for segments to attach (a user's restorer cannot come back).
                let attaches = p.mappings.contains { $0.kind == .sysvShm }
                try within(attaches ? ns : 0) { try r.prepare(shared: shared, sysv: sysv[ns], unlinked: unlinked) }
                copyFill?.attach(r, plan: memoryPlan, userMode: userModeFill)
                if let chain { try Self.writeParentPages(chain, r, copyFill: copyFill) }
                if copiesInherited, let parentStub = tree.stubs[p.ppid] {
                    // What it shares with its parent is the parent's, restored by now (`pages.seal`).
                    try InheritedPagesCopy.copy(p, from: RemoteMemory(pid: parentStub), into: r.memory)
                }
                tree.adopt(r.session, for: p.pid)
                restores.append(r)
                stages.lap("prepare")
                // The pages of every process prepared so far (they come in the image's process order).
                try pages.write(into: restores)
                stages.lap("pages")
            }
            try pages.finish(into: restores)
            mappedFill?.close()
            stages.lap("last pages")
            // The saved cgroups no process is in (empty ones below theirs).
            cgroups?.makeRemaining()
            // Sockets are made inside their process's network namespace.
            try tree.placeWaitingNamespaces(nil, among: header.processes)
            let netWarnings = net.map { Self.configureNetworks(nets, made: $0, stubs: netStubs.pids, externals: options.externalLinks) } ?? []
            copyFill?.close()
            try tree.complete(header.processes, zombies: header.zombies)
            stages.lap("complete")
            // libcr reaps these in the caller (it reads this line: docs/LIBCR-AGENT.md).
            for helper in tree.leftForCaller { notes.append("the helper that made session or group \(helper) exited, left for the caller to reap: pid \(helper)") }
            testHookPause()
            var warnings = (users?.warnings ?? []) + tree.warnings + ptys.warnings + (tree.time?.warnings ?? []) + (tree.mounts?.warnings ?? []) + (tree.uts?.warnings ?? []) + (ipc?.warnings ?? []) + (net?.warnings ?? []) + netWarnings
            var objects = SharedFileObjects(processes: header.processes, memory: shared, ptys: ptys, stubs: tree.stubs, closeTCP: options.closeTCP,
                                            inherited: options.inheritedDescriptors, unlinked: unlinked)
            objects.missingFiles = options.missingFiles
            objects.innerIDs = tree.inner
            objects.mountNamespaces = tree.mounts
            objects.netNamespaces = net
            objects.sockets.mountNamespaces = tree.mounts
            defer { objects.close() }
            var deferred = pages.deferred
            let lazyDescriptors = plan == nil ? [:] : LazyRestore.takeDescriptors(restores, deferred: &deferred, loader: loader, warnings: &warnings)
            // Its sockets are made by us, inside its network namespace. In
            // the image's order: a file two processes share is lent by the
            // first (its sameAs). A user's restorer cannot come back to ours
            // once in another: ours first for it.
            let order = geteuid() == 0 ? restores
                : restores.enumerated().sorted(by: { ($0.element.process.netNamespace, $0.offset) < ($1.element.process.netNamespace, $1.offset) }).map(\.element)
            for r in order {
                warnings += try inNetwork(r.process.netNamespace) {
                    try r.finish(ids: ids, quietChildSignal: tree.reapedSignals[r.process.pid] ?? false,
                                 seccompSuspended: tree.seccompSuspended, sharedTable: tree.sharedTables.contains(r.process.pid), objects: objects,
                                 userNamespace: users?.entry(r.process.userNamespace))
                }
            }
            stages.lap("finish")
            if let made = cgroups?.made, !made.isEmpty { notes.append("cgroups made again: \(made.joined(separator: ", "))") }
            warnings += cgroups?.warnings ?? []
            warnings += try objects.settle()
            warnings += shared.seal()
            warnings += objects.unlinked.finish()
            for (ns, factory) in sysv.enumerated() where ns == 0 || factory.hasObjects { warnings += try within(ns) { try factory.finish() } }
            for (k, stub) in ipcStubs.pids.sorted(by: { $0.key < $1.key }) {
                do { try Self.writeIPCSettings(ipcSettings, namespace: k, only: IPCNamespaceSettings.nextIDs, stub: stub) } catch {
                    warnings.append("IPC namespaces \(k): \(error)")
                }
            }
            // libcr agents wait in cr_checkpoint() for their outcome: "restarted",
            // by the requester: us, or for cr_request_restart() its caller, as
            // in BLCR, where the caller restarts (MPICH finds its files by it).
            let requester = options.parentIsCaller ? getppid() : getpid()
            for r in restores where r.process.agentResultFD >= 0 {
                if !AgentRendezvous.deliver(.restarted, value: requester, source: options.sourcePath, to: "/proc/\(r.stub)/fd/\(r.process.agentResultFD)") {
                    warnings.append("process \(r.process.pid): its libcr agent could not be told about the restart")
                }
            }
            var pager: LazyPager?
            if let plan, let features = lazyFeatures {
                let lazy = LazyRestore.register(restores, descriptors: lazyDescriptors, deferred: deferred, plan: plan, loader: loader,
                                                features: features, traceForks: traceForks, log: log)
                warnings += lazy.warnings
                pager = lazy.pager
            }
            warnings += tree.mounts?.unmountLingering() ?? []
            pin.releaseForGood(restores.flatMap(\.threadIDs))
            for r in restores { warnings += r.restoreAffinity() + r.restoreDeadlines() }
            // Every path is back: a user's PID namespace gets its own /proc.
            if let note = NamespaceProc.mount() { warnings.append(note) }
            // Children first, so a parent never runs while a child is still being set up.
            // (A user's lazy restore stays the tracer of the processes that wait for pages: ForkTracer.)
            let traced = Set(pager?.tracedProcesses ?? [])
            guard let eldest = header.processes.first, let pid = tree.stubs[eldest.pid] else {
                throw CheckpointError(EINVAL, "image holds no process")
            }
            stages.lap("settle")
            options.beforeRunning?(pid, tree.stubs)
            // (Not while pages are still coming in: its callbacks may need them.)
            for r in restores {
                if options.signalAfter != 0 && r.stub == pid { r.staysStopped = false }  // (the signal goes to the first process)
                if pager == nil && r.staysStopped && r.process.agentResultFD >= 0 { r.stopsAfterCallbacks = true }
            }
            for r in restores.reversed() { if traced.contains(r.stub) { try r.resumeTraced() } else { try r.detach() } }
            for r in restores { r.stopAfterCallbacks() }
            if options.signalAfter != 0, let root = restores.first(where: { $0.stub == pid }) {
                if options.signalAfter == SIGSTOP && pager == nil && root.process.agentResultFD >= 0 { AgentRendezvous.awaitServed(pid, within: 30) }
                kill(pid, options.signalAfter)
            }
            stages.lap("detach")
            log.debug("stages: \(stages)")  // a failure says one line, not this
            PIDNamespace.handOver(Array(tree.inner.values))
            return RestoredProcess(pid: pid, originalPID: eldest.pid, command: eldest.command, pids: tree.stubs,
                                   warnings: warnings, notes: notes, seconds: Clock.now - started, lazyPager: pager)
        } catch {
            tree.destroyAll()
            PIDNamespace.handOver([])
            if let e = error as? ImageError { throw Self.damaged(e, options.sourcePath) }
            throw CheckpointError(error, context: "restart failed")
        }
    }

    /// The pages an incremental image leaves to its parents, from the
    /// nearest image of the chain that holds each.
    static func writeParentPages(_ chain: ParentChain, _ r: ProcessRestore, copyFill: CopyFill?) throws {
        let wanted = PageRanges(r.process.mappings.flatMap { m in m.parentRanges.map { ($0.address, $0.address + $0.length) } })
        guard !wanted.isEmpty else { return }
        try chain.write(chain.resolve(pid: r.process.pid, wanted: wanted), pid: r.process.pid) { section, data in
            for run in section.runs { try r.space.validate(run) }
            if let fill = copyFill {
                try fill.write(section, data: data, into: r)
            } else {
                try r.memory.write(ranges: section.runs.map { ($0.address, Int($0.byteCount)) }, from: data)
            }
        }
    }

    /// Processes with pages inherited from their parent, and every process
    /// that must come after one of them (its descendants, members of its group).
    static func forkedAfterParentMemory(_ processes: [ProcessState]) -> Set<pid_t> {
        var later = Set(processes.filter { p in p.mappings.contains { !$0.inheritedRuns.isEmpty } }.map(\.pid))
        var grew = !later.isEmpty
        while grew {
            grew = false
            for p in processes where !later.contains(p.pid) && (later.contains(p.ppid) || later.contains(p.pgid)) {
                later.insert(p.pid)
                grew = true
            }
        }
        return later
    }

    /// SWIFTCR_PLAIN_WRITES=1: eager pages go in by process_vm_writev only (to compare).
    static let plainWrites = getenv("SWIFTCR_PLAIN_WRITES") != nil
    /// SWIFTCR_NO_FRAME_FILL: compressed frames decompressed by the reader and written by one thread (benchmarks compare).
    static let frameFill = getenv("SWIFTCR_NO_FRAME_FILL") == nil
    /// SWIFTCR_NO_MAPPED_PAGES=1 reads plain page data into buffers as before (to compare).
    static let mappedPages = getenv("SWIFTCR_NO_MAPPED_PAGES") == nil

    static func isRegularFile(_ fd: Int32) -> Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFREG
    }

    /// The image is read once, front to back, each section's checksum
    /// checked before it is used (page data mapped from a file: as its
    /// pieces go in, before any process runs): a damaged section found while
    /// the pages stream in fails the restart, after every stub is killed (none has run).
    static func damaged(_ e: ImageError, _ source: String) -> CheckpointError {
        let name = source.isEmpty ? "the image" : source
        switch e {
        case .notAnImage, .unsupportedVersion, .io: return CheckpointError(e.errnoCode, "\(name): \(e)")
        default: return CheckpointError(e.errnoCode, "\(name) is damaged: \(e)")
        }
    }

    static func code(_ r: RestartHeader.Refusal) -> Int32 {
        switch r {
        case .malformed: return EINVAL
        case .architecture: return BLCRCode.badArch
        case .owner: return EPERM
        case .missingFile: return ENOENT
        case .changedFile: return ESTALE
        }
    }

    /// The first of `ids` some process here still has as its group or
    /// session. 0 is one outside this PID namespace (init's own, say, when
    /// the image was made in a container): it exists and is out of reach.
    static func idInUse(_ ids: Set<pid_t>, by field: KeyPath<ProcStat, Int32>) -> pid_t? {
        if ids.contains(0) { return 0 }
        guard !ids.isEmpty else { return nil }
        for p in (try? Sys.numericEntries("/proc")) ?? [] {
            if let st = try? ProcStat.read(pid: p), ids.contains(st[keyPath: field]) { return st[keyPath: field] }
        }
        return nil
    }

    static func describe(_ id: pid_t) -> String { id == 0 ? "0 (one outside this PID namespace)" : "\(id)" }
}
