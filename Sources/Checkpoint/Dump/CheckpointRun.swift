import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// One checkpoint, stage by stage, in the order `Checkpointer.checkpoint`
/// runs them (as CRIU's dump_one_task reads). Each stage says what it
/// needs from the ones before; state passes between them here.
final class CheckpointRun {
    let options: CheckpointOptions
    let destination: ImageDestination
    let log: Logger
    /// Registries shared by all processes of this checkpoint.
    let context: DumpContext

    private var scope = TreeScope(live: [], zombies: [])
    private var agents = AgentRendezvous.Outcome()
    private var frozen: [FrozenProcess] = []
    /// Processes already stopped (group stop) before we froze them: stopped again after restart.
    private var stopped: Set<pid_t> = []
    private var frozenAt = 0.0
    private var collected: [ProcessCollector.Collected] = []
    private var tree = TreeState()
    private var writer: ImageWriter?
    private var plans: [(pid: pid_t, runs: [MemoryDumper.Candidate])] = []
    private var stats = MemoryDumper.Stats()
    private var verifySeconds = 0.0
    /// This image's ID (INVENTORY), and the parent an incremental checkpoint names.
    private let imageID = ParentImage.newID()
    private var parent: Inventory.ParentLink?
    private let tracking: WriteTracking
    private var parentPages: UInt64 = 0
    /// A pre-dump thaws the processes before it reads their memory.
    private var thawedAt: Double?
    /// The incremental plan protected the written pages of these processes again.
    private var protectedAtPlan: Set<pid_t> = []
    /// Scans of written pages running beside the collection (TrackedScan).
    private var trackedScans: [pid_t: TrackedScan] = [:]
    /// An incremental checkpoint copies pages here while frozen (StagingArea).
    private var staging: StagingArea?
    /// Batches copied into `staging`, by process, written once the processes run again.
    private var staged: [(pid: pid_t, batches: [MemoryDumper.StagedBatch])] = []

    init(options: CheckpointOptions, destination: ImageDestination, log: Logger) {
        self.options = options
        self.destination = destination
        self.log = log
        context = DumpContext(holdRepairs: options.signalAfter == SIGKILL)
        context.preDump = options.preDump
        tracking = WriteTracking(parentID: nil, log: log)
    }

    var pid: pid_t { options.pid }

    /// 1. The target exists and may be checkpointed; its scope (BLCR's
    /// process, group, session or tree), less what the ptrace policy skips.
    func resolveScope() throws {
        try TargetCheck.verify(pid: pid, scope: options.scope)
        scope = try TreeScope.resolve(pid, options.scope)
        let traces = TargetCheck.TraceMap.scan()
        scope.live = try scope.live.filter {
            !(try TargetCheck.skipForPtrace(pid: $0, traces: traces, ptraced: options.ptraced, ptracer: options.ptracer))
        }
        guard !scope.live.isEmpty else { throw CheckpointError(ESRCH, "nothing is left to checkpoint in the scope of \(pid)") }
        context.scopePIDs = scope.live
    }

    /// 1b. An incremental checkpoint's parent image exists and is of this target.
    func openParent() throws {
        guard let path = options.parentPath else { return }
        parent = try ParentImage.link(path, target: pid)
        tracking.parentID = parent?.imageID
    }

    /// 2b. An incremental checkpoint that lets its processes run on gets a
    /// staging area for the pages written since the parent, sized by a
    /// scan made before the freeze (with room for writes until then), so
    /// the processes are frozen while their pages are copied into memory,
    /// not while they are written to the image. Compressed images are written as read.
    func prepareStaging() {
        guard let parent, options.signalAfter == 0, options.compressLevel == nil else { return }
        let tracked = scope.live.filter { TrackingRecords.read($0)?.imageID == parent.imageID }
        let written = tracked.reduce(0) { $0 + StagingArea.writtenBytes($1) }
        guard written > 0 else { return }
        staging = StagingArea(byteCount: min(written + written / 4 + (16 << 20), StagingArea.budget()))
    }

    /// 2. libcr callbacks, before anything is frozen (they run in the
    /// processes): they may omit processes or forward the checkpoint to more.
    func runCallbacks() throws {
        agents = try Checkpointer.runCallbacks(options, &scope, log: log)
        guard !scope.live.isEmpty else {
            throw CheckpointError(ESRCH, "nothing is left to checkpoint in the scope of \(pid): every process asked to be omitted")
        }
    }

    /// 3. Seize and stop every process, top down, then again for children
    /// forked while their parents were being frozen. The frozen time starts here.
    func freezeScope() throws {
        frozenAt = Clock.now
        testHookCheckpointPause("scoped")
        for _ in 0..<10 {
            let fresh = scope.live.filter { p in !frozen.contains { $0.pid == p } }
            if fresh.isEmpty { break }
            for p in fresh {
                // Read before freezing: a traced task shows 't', a stopped one 'T'.
                if (try? ProcStat.read(pid: p))?.state == "T" || agents.continued.contains(p) { stopped.insert(p) }
                do {
                    frozen.append(try FrozenProcess.freeze(p, log: log))
                } catch where p != pid && Self.hasExited(p) {
                    // A descendant that exited since the scope was read is no longer
                    // part of the tree (a zombie one is found again as a zombie).
                    log.debug("process \(p) exited before it could be frozen; left out")
                    scope.live.removeAll { $0 == p }
                } catch let e as SystemCallError {
                    throw TargetCheck.explainFreezeFailure(pid: p, e)
                }
            }
            let again = try TreeScope.resolve(pid, options.scope)
            scope.zombies = again.zombies
            scope.live += again.live.filter { !scope.live.contains($0) && !agents.omitted.contains($0) }
        }
    }

    /// 3b. A checkpoint that kills its targets silences their TCP
    /// connections before it reads any of them (TCPNetworkLock).
    func lockConnections() {
        guard options.signalAfter == SIGKILL else { return }
        context.tcpLock.lock(frozen.map(\.pid))
    }

    /// 4. Everything of each process but its pages: registers, signals,
    /// mappings, files (Resources/), timers. Needs the processes frozen.
    func collectProcesses() throws {
        tracking.adopt(frozen.map(\.pid), context: context)
        // The written pages are scanned (and protected again) while the rest is read.
        if parent != nil && options.keepsTracking {
            for f in frozen where tracking.knowsWrites(f.pid) {
                protectedAtPlan.insert(f.pid)
                trackedScans[f.pid] = TrackedScan(pid: f.pid, staging: staging)
            }
        }
        // Injected calls are round trips to the target: run them from its CPU.
        var pin = CPUPin()
        defer { pin.unpinCurrentThread() }
        for f in frozen {
            if let cpu = try? ProcStat.read(pid: f.pid).processor { pin.pinCurrentThread(to: cpu) }
            var collector = ProcessCollector(frozen: f, log: log, context: context, save: options.save)
            if options.keepsTracking { collector.tracking = tracking }
            var c = try collector.collect()
            c.state.stopped = stopped.contains(f.pid)
            if let sig = f.stopSignal, (19...22).contains(sig) { c.state.stopSignal = sig }
            collected.append(c)
        }
    }

    /// 5. What belongs to the tree rather than one process (the TREE
    /// section): SysV IPC objects the processes use, the PIDs callbacks
    /// omitted; and each process's agent result pipe.
    func collectTreeObjects() throws {
        // SysV objects per IPC namespace (the checkpointer's and the tree's others).
        let sysv = try IPCNamespaces.collect(collected.map(\.state))
        tree = TreeState(sysvObjects: sysv.objects, omittedPIDs: agents.omitted.sorted())
        tree.ipcNamespaces = sysv.count
        tree.ipcSettings = sysv.settings
        number(\.ipcNamespace, sysv.index)
        // Run by a process of the image itself (system("cr_checkpoint ...")), not
        // through libcr: after a restart its wait must find us, exited with 0, as under BLCR.
        if options.requester == getpid(), frozen.contains(where: { $0.pid == getppid() }) {
            var me = ZombieState(pid: getpid(), ppid: getppid(), pgid: getpgrp(), sid: getsid(0), waitStatus: 0)
            me.checkpointer = true
            scope.zombies.append(me)
        }
        for k in collected.indices {
            if let fd = agents.ready[collected[k].state.pid] { collected[k].state.agentResultFD = fd }
            // One fd table for several processes (CLONE_FILES): the first of them holds it.
            if let j = (0..<k).first(where: { Kcmp.sameFiles(frozen[k].pid, frozen[$0].pid) }) {
                collected[k].state.filesSharedWith = collected[j].state.pid
            }
        }
        guard !collected.isEmpty else { return }
        tree.namespaceIDs = try NamespaceIDs.collect(root: pid, processes: collected.map(\.state), zombies: scope.zombies)
        // Inside a namespace of its own, whoever is outside holds no ID of the tree's.
        if tree.ownPIDNamespace { scope.outsiders = [] }
        let time = TimeNamespaces.collect(collected.map(\.state.pid))
        tree.timeOffsets = time.offsets
        if time.offsets != nil {
            for k in collected.indices { collected[k].state.timeNamespace = time.use[collected[k].state.pid] ?? .init() }
        }
        let mounts = try MountNamespaces.collect(collected.map(\.state.pid), foreign: context.foreignMounts)
        tree.mountNamespaces = mounts.namespaces
        number(\.mountNamespace, mounts.index)
        var mountWarnings = mounts.warnings
        if !mounts.namespaces.isEmpty || !context.watchNamespaces.isEmpty {
            var states = collected.map(\.state)
            try MountNamespaces.markFiles(&states, found: mounts, watches: context.watchNamespaces, warnings: &mountWarnings)
            RemovedFileNames.find(&states, found: mounts)
            for k in collected.indices { collected[k].state.files = states[k].files }
        }
        let cgroupSettings = CgroupSettingsCollector.collect(collected.map(\.state))
        tree.cgroupSettings = cgroupSettings.settings
        let cgroups = CgroupNamespaces.collect(collected.map(\.state))
        tree.cgroupNamespaces = cgroups.namespaces
        number(\.cgroupNamespace, cgroups.index)
        if !options.cgroupRoots.isEmpty {
            // --cgroup-root: every cgroup saved from its hierarchy's root (those above it are not saved).
            for k in collected.indices { try CgroupRoot.rebase(&collected[k].state, options.cgroupRoots) }
            tree.cgroupSettings = tree.cgroupSettings.compactMap { s in
                CgroupRoot.below(s.cgroup, options.cgroupRoots).map { var moved = s; moved.cgroup = $0; return moved }
            }
            tree.cgroupNamespaces = tree.cgroupNamespaces.map { $0.map { CgroupRoot.below($0, options.cgroupRoots) ?? $0 } }
        }
        let uts = UTSNamespaces.collect(collected.map(\.state.pid))
        tree.utsNamespaces = uts.namespaces
        number(\.utsNamespace, uts.index)
        let net = NetNamespaces.collect(collected.map(\.state.pid))
        tree.netNamespaces = net.found.namespaces
        number(\.netNamespace, net.found.index)
        var states = collected.map(\.state)
        let socketWarnings = SocketNamespaces.note(&states, numbers: net.found.numbers)
        for k in collected.indices { collected[k].state.files = states[k].files }
        let users = UserNamespaces.collect(collected.map(\.state))
        tree.userNamespaces = users.namespaces
        number(\.userNamespace, users.index)
        for k in collected.indices { collected[k].state.ownedByUserNamespace = users.owned[collected[k].state.pid] ?? 0 }
        let unsaved = UnsavedNamespaces.warnings(collected.map(\.state.pid), saved: ["mnt": Set(mounts.index.keys), "cgroup": cgroups.saved, "uts": uts.saved,
                                                                                      "ipc": Set(sysv.index.keys), "net": net.found.saved])
        collected[0].warnings += scope.outsiders + sysv.warnings + agents.warnings + time.warnings + mountWarnings + cgroupSettings.warnings + cgroups.warnings
            + uts.warnings + net.found.warnings + net.warnings + socketWarnings + users.warnings + unsaved
    }

    /// Gives each process its namespace's number of one kind (0: the checkpointer's).
    private func number(_ field: WritableKeyPath<ProcessState, Int>, _ index: [pid_t: Int]) {
        for k in collected.indices { collected[k].state[keyPath: field] = index[collected[k].state.pid] ?? 0 }
    }

    /// 6. INVENTORY, TREE, then the memory plan (pagemap, which also finds guard
    /// pages that the mapping records carry), then PROCESS and ZOMBIE records.
    func writeMetadata() throws {
        let writer = try ImageWriter(fd: destination.fd)
        self.writer = writer
        let xsave = collected.first?.state.threads.first?.xsave ?? []
        var inventory = Inventory(
            producer: MachineInfo.producer, kernelRelease: MachineInfo.kernelRelease, machine: MachineInfo.machine,
            hostname: MachineInfo.hostname, createdAt: UInt64(time(nil)), xsaveSize: UInt64(xsave.count),
            xfeatures: MachineInfo.xfeatures, scope: options.scope.rawValue, target: pid)
        inventory.imageID = imageID
        inventory.preDump = options.preDump
        inventory.parent = parent
        try writer.write(inventory)
        if !tree.isEmpty { try writer.write(tree) }
        for k in collected.indices {
            let pid = collected[k].state.pid
            // An incremental checkpoint reads pagemap only where pages were written.
            var scan: IncrementalPlan.Scan?
            if parent != nil {
                let registered = tracking.registeredRanges(pid)
                if let running = trackedScans[pid] {
                    scan = IncrementalPlan.scan(pid: pid, maps: collected[k].maps, registered: registered, prescanned: try running.result())
                } else if tracking.knowsWrites(pid) {
                    scan = try IncrementalPlan.scan(pid: pid, maps: collected[k].maps, registered: registered)
                } else {
                    collected[k].warnings.append("process \(pid): its writes are not tracked since the parent image: every page is saved")
                }
            }
            let plan = try MemoryDumper(pid: pid, writer: writer).candidates(collected[k].maps, only: scan?.read ?? [:])
            for i in collected[k].state.mappings.indices {
                if let g = plan.guards[collected[k].state.mappings[i].start] { collected[k].state.mappings[i].guardRuns = g }
            }
            var runs = plan.runs
            if let scan {
                runs = IncrementalPlan.addWritten(scan, maps: collected[k].maps, to: MemoryDumper.subtract(runs, scan.fromParent))
                // Every unwritten page is the parent's, read or not.
                for i in collected[k].state.mappings.indices {
                    let m = collected[k].state.mappings[i]
                    collected[k].state.mappings[i].parentRuns = IncrementalPlan.pageRuns(scan.fromParent, in: m.start, m.end)
                }
                parentPages += scan.fromParent.reduce(0) { $0 + $1.length } / 4096
            }
            // A pre-dump reads memory the processes may unmap meanwhile: such pages read as zero.
            if options.preDump { for i in runs.indices { runs[i].mayFault = true } }
            plans.append((pid, runs))
        }
        try mapUnlinkedFromSavedFiles()
        try findSharedPages()
        for c in collected { try writer.write(c.state) }
        for z in scope.zombies { try writer.write(z) }
    }

    /// A private mapping of an unlinked file that a descriptor in the image
    /// still holds (so the image saves the file): mapped from that file
    /// again at restart, as a private file mapping, so the pages the program
    /// never wrote keep following the file (what is written through the
    /// descriptor shows in them, zdtm unlink_mmap02); only the pages it
    /// wrote (copied on write) are saved, not the whole file twice.
    private func mapUnlinkedFromSavedFiles() throws {
        let saved = Set(collected.flatMap { $0.state.files.filter { $0.kind == .unlinked && $0.fileContents != nil }.map { [$0.device, $0.inode] } })
        guard !saved.isEmpty else { return }
        for k in collected.indices {
            var filePages: [(address: UInt64, length: UInt64)] = []
            for i in collected[k].state.mappings.indices {
                let m = collected[k].state.mappings[i]
                // (Kept as anonymous memory: the classifier's mark of a deleted file's private mapping.)
                guard m.kind == .anonymous, !m.shared, m.inode != 0, let path = m.path, saved.contains([m.device, m.inode]) else { continue }
                filePages += try Self.unwrittenPages(pid: collected[k].state.pid, m)
                collected[k].state.mappings[i].kind = .privateFile
                collected[k].state.mappings[i].path = path + " (deleted)"
            }
            if !filePages.isEmpty { plans[k].runs = MemoryDumper.subtract(plans[k].runs, filePages.sorted { $0.address < $1.address }) }
        }
    }

    /// The pages of a private file mapping that are still the file's (not
    /// copied on write), as address ranges.
    private static func unwrittenPages(pid: pid_t, _ m: Mapping) throws -> [(address: UInt64, length: UInt64)] {
        let pagemap = try Pagemap(pid: pid)
        defer { pagemap.close() }
        var ranges: [(address: UInt64, length: UInt64)] = []
        MemoryDumper.runs(of: try pagemap.entries(start: m.start, end: m.end), where: { !MappingClassifier.shouldSave($0, kind: .privateFile) }) { i, n in
            ranges.append((m.start + UInt64(i) * 4096, UInt64(n) * 4096))
        }
        return ranges
    }

    /// Pages a child still shares with its parent in the image are left out
    /// of its plan and marked in its mappings (CowSharing).
    private func findSharedPages() throws {
        for k in collected.indices {
            let me = collected[k].state
            guard let j = collected.firstIndex(where: { $0.state.pid == me.ppid }), j < k else { continue }
            let shared = try CowSharing(child: me.pid, parent: me.ppid)
                .find(childMappings: me.mappings, parentMappings: collected[j].state.mappings)
            guard !shared.isEmpty else { continue }
            for (i, runs) in shared { collected[k].state.mappings[i].inheritedRuns = runs }
            plans[k].runs = MemoryDumper.subtract(plans[k].runs, shared.keys.flatMap { collected[k].state.mappings[$0].inheritedRanges }.sorted { $0.address < $1.address })
        }
    }

    /// 6b. A pre-dump: write tracking armed (every page protected, so a page
    /// written from now on shows), then the processes run on while their
    /// memory is read. A page written during the read is saved again by the
    /// next incremental checkpoint.
    func thawForPreDump() {
        armTracking()
        thawNow()
    }

    /// Thawed before the image is committed: TCP repair and locks off first.
    private func thawNow() {
        context.tcpRepairs.finish(keepOn: false)
        context.tcpLock.finish(unlock: true)
        thawAll()
        thawedAt = Clock.now
    }

    /// Protection that counts from this image, in every process that keeps
    /// tracking; a process where it cannot be armed loses its tracking.
    private func armTracking() {
        guard options.keepsTracking else { return }
        for c in collected {
            do {
                try tracking.arm(c.state.pid, maps: c.maps, imageID: imageID, protectedAlready: protectedAtPlan.contains(c.state.pid))
            } catch {
                // This kernel or user cannot track writes: the checkpoint goes on, the next incremental is a full one.
                tracking.warnings.append("process \(c.state.pid): writes cannot be tracked (\(error)); the next incremental checkpoint saves every page (\(KernelProbe.writeTrackingSummary()))")
                tracking.stop(c.state.pid, session: c.session)
            }
        }
    }

    /// 7. PAGES, process by process, read back as they go when the image can be checked.
    func dumpMemory() throws {
        guard let writer else { throw CheckpointError(EINVAL, "internal: memory dumped before the metadata") }
        testHookCheckpointPause("dump")
        let total = plans.reduce(UInt64(0)) { $0 + $1.runs.reduce(0) { $0 + $1.pages } } * 4096
        var doneBefore: UInt64 = 0
        let compressors = try options.compressLevel.map { level in
            guard let pool = CompressorPool(level: level) else { throw CheckpointError(EINVAL, "zstd refuses compression level \(level)") }
            return pool
        }
        for (p, runs) in plans {
            var dumper = MemoryDumper(pid: p, writer: writer)
            dumper.compressors = compressors
            dumper.staging = staging
            dumper.prefetched = trackedScans[p]?.prefetched()
            if let copied = dumper.prefetched { log.debug("process \(p): \(copied.byteCount / 4096) written pages copied beside the collection") }
            // Checked in the time the reading thread would wait for the writer anyway.
            dumper.readBack = options.verifyImage && destination.verifiablePath != nil
            let base = doneBefore
            dumper.progress = options.progress.map { report in { done, _ in report(base + done, total) } }
            var batches: [MemoryDumper.StagedBatch] = []
            let s = try dumper.dump(runs, staged: &batches)
            if !batches.isEmpty { staged.append((p, batches)) }
            if thawedAt != nil && Self.hasExited(p) {
                // A pre-dump's processes run while it reads (thawed): one that
                // ended is in no later checkpoint, so its pages are needed by none.
                guard options.preDump else { throw CheckpointError(ESRCH, "process \(p) exited while its memory was read") }
                tracking.stop(p, session: nil)
                tracking.warnings.append("process \(p) exited during the pre-dump; a later checkpoint does not have it")
            }
            stats.savedPages += s.savedPages
            stats.zeroPages += s.zeroPages
            stats.checkedSections += s.checkedSections
            doneBefore += s.candidatePages * 4096
        }
    }

    /// Whether pages wait in the staging area (the processes may run before they are written).
    var hasStagedPages: Bool { !staged.isEmpty }

    /// 7b. After the thaw: the staged pages into the image.
    func writeStagedMemory() throws {
        guard let writer else { throw CheckpointError(EINVAL, "internal: staged pages written before the metadata") }
        for (p, batches) in staged {
            var dumper = MemoryDumper(pid: p, writer: writer)
            dumper.readBack = options.verifyImage && destination.verifiablePath != nil
            let s = try dumper.writeStaged(batches)
            stats.savedPages += s.savedPages
            stats.zeroPages += s.zeroPages
            stats.checkedSections += s.checkedSections
        }
        staged.removeAll()
        staging = nil
    }

    /// 8. INDEX and END: everything of the processes is in the image.
    func closeImage() throws {
        guard let writer else { throw CheckpointError(EINVAL, "internal: image finished before it was written") }
        try writer.finish()
    }

    /// 8b. A checkpoint that lets its processes run on (no signal after it)
    /// thaws them now: the image holds all it needs of them, and checking
    /// and committing it only reads the file. A failure from here on still
    /// leaves no image, and the processes running as they would have.
    func thawIfRunningOn() {
        guard options.signalAfter == 0, thawedAt == nil else { return }
        settleTracking()
        thawNow()
    }

    /// 9. The whole image read back, then its final name. Until the commit
    /// a failure leaves no image and the processes as they were.
    func commitImage() throws {
        verifySeconds = try Checkpointer.verifyBeforeCommit(destination, options, pagesReadBack: Set(stats.checkedSections))
        try destination.commit()
    }

    /// 9. The image is committed: TCP repair mode off (or kept for --kill),
    /// callbacks told to continue, processes thawed, then signalled (--kill, --stop...).
    func release() -> CheckpointSummary {
        if thawedAt == nil { settleTracking() }
        let lockWarnings = options.signalAfter == SIGKILL ? context.tcpLock.keepPastKill() : []
        context.tcpRepairs.finish(keepOn: options.signalAfter == SIGKILL)
        context.tcpLock.finish(unlock: options.signalAfter != SIGKILL)
        if options.signalAfter != SIGKILL { AgentRendezvous.release(agents.ready, failed: nil) }
        if thawedAt != nil {
            // Thawed already (a pre-dump, or nothing to send): callbacks after the checkpoint finish.
            if options.signalAfter == 0 && !options.preDump { AgentRendezvous.awaitDone(agents.listeners, within: options.timeLimit ?? 30) }
            // Stopped before, continued for the callbacks: stopped again once they are done.
            AgentRendezvous.stopAgain(agents.continued)
        } else if options.signalAfter == SIGKILL {
            AgentRendezvous.closeListeners(agents.listeners)
            // Killed while still stopped: not one instruction runs with its
            // TCP sockets in repair mode or sees its peers vanish.
            for f in frozen { kill(f.pid, SIGKILL) }
            for f in frozen.reversed() { f.releaseKilled() }
        } else {
            // --term, -S: queued while every thread is still stopped, so it
            // is taken on the way back to user space, before the process
            // runs one instruction past the image point (whose output would
            // otherwise appear twice after a restart). --stop waits for the
            // callbacks of a process with libcr: they finish, then it stops
            // (BLCR's stopped test); stopping goes on from where it is, so
            // nothing runs twice after a restart for it.
            let stopsAfterCallbacks = options.signalAfter == SIGSTOP ? agents.listeners : [:]  // (listeners: agents that say DONE)
            // (A process continued for its callbacks then gets the signal given in place of its stop, as in BLCR.)
            if options.signalAfter != 0 { for f in frozen where stopsAfterCallbacks[f.pid] == nil { kill(f.pid, options.signalAfter) } }
            thawAll()
            testHookCheckpointPause("released")
            // The request completes once the callbacks after the checkpoint have
            // returned; a process just told to stop (or die) is not waited for.
            if options.signalAfter == 0 {
                AgentRendezvous.awaitDone(agents.listeners, within: options.timeLimit ?? 30)
                AgentRendezvous.stopAgain(agents.continued)
            } else {
                AgentRendezvous.closeListeners(agents.listeners.filter { stopsAfterCallbacks[$0.key] == nil })
                AgentRendezvous.awaitDone(stopsAfterCallbacks, within: options.timeLimit ?? 30)
                for pid in stopsAfterCallbacks.keys { kill(pid, SIGSTOP) }
            }
        }
        let frozenFor = (thawedAt ?? Clock.now) - frozenAt
        return CheckpointSummary(pid: pid, imageBytes: writer?.offset ?? 0, savedPages: stats.savedPages, zeroPages: stats.zeroPages,
                                 mappings: collected.reduce(0) { $0 + $1.state.mappings.count },
                                 files: collected.reduce(0) { $0 + $1.state.files.count },
                                 warnings: collected.flatMap(\.warnings) + tracking.warnings + lockWarnings, frozenSeconds: frozenFor,
                                 processes: collected.count, zombies: scope.zombies.count, verifySeconds: verifySeconds,
                                 parentPages: parentPages)
    }

    /// The image is committed and the processes still stopped: tracking
    /// protects their pages again from this image on, or leaves them
    /// (--stop-tracking), or goes with them (--kill). A failure here costs
    /// the next incremental checkpoint its savings, not its correctness
    /// (its record then names no image, and it saves every page).
    private func settleTracking() {
        if options.signalAfter == SIGKILL {
            tracking.forgetAll()
        } else if options.stopTracking {
            for c in collected { tracking.stop(c.state.pid, session: c.session) }
        } else if options.keepsTracking {
            armTracking()
        }
    }

    /// Any stage failed: nothing under the final name, TCP repair off,
    /// callbacks told of the failure, every process thawed as it was.
    /// Returns the error to throw, as one CheckpointError.
    func abandon(_ error: Error) -> Error {
        destination.discard()
        // A scan still protecting pages ends before the processes run again.
        for s in trackedScans.values { s.wait() }
        if thawedAt == nil {
            tracking.undoMade(sessions: Dictionary(collected.compactMap { c in c.session.map { (c.state.pid, $0) } }) { a, _ in a })
            for p in protectedAtPlan { tracking.invalidate(p) }
        } else if options.keepsTracking {
            // Tracking was armed from this image, which is not committed: the next incremental saves every page.
            for c in collected { tracking.invalidate(c.state.pid) }
            // Descriptors this checkpoint made leave the processes again, as they run.
            tracking.closeMadeInRunningProcesses()
        }
        context.tcpRepairs.finish(keepOn: false)
        context.tcpLock.finish(unlock: true)
        AgentRendezvous.release(agents.ready, failed: (error as? CheckpointError)?.code ?? EIO)
        AgentRendezvous.closeListeners(agents.listeners)
        thawAll()
        AgentRendezvous.stopAgain(agents.continued)
        return CheckpointError(error, context: "checkpoint of \(pid) failed", badImage: EIO)
    }

    /// Gone, or a zombie.
    static func hasExited(_ p: pid_t) -> Bool {
        guard let st = try? ProcStat.read(pid: p) else { return true }
        return st.state == "Z" || st.state == "X"
    }

    private func thawAll() { for f in frozen.reversed() { f.thaw(log: log) } }
}
