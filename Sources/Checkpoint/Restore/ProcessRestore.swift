import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// One process being rebuilt in its stopped stub, stage by stage
/// (RestoreStage, where each stage's place in the order is explained):
/// `prepare` runs those before the pages, PageStream writes the pages,
/// `finish` runs the rest, then `detach`.
final class ProcessRestore {
    let stub: pid_t
    /// The PID the process sees itself as (differs from `stub` inside a PID namespace).
    let innerPID: pid_t
    let process: ProcessState
    let inventory: Inventory
    let log: Logger
    let session: RemoteSession
    private(set) var space: AddressSpaceRestorer
    /// tid: as we see it (ptrace); inner: as the process sees it (injected calls).
    private var threads: [(tid: pid_t, inner: pid_t, state: ThreadState, session: RemoteSession)] = []
    private let stubMaps: [MapsEntry]
    /// Threads set to issue their interrupted system call again: (tid, call number).
    private var reissued: [(tid: pid_t, call: UInt64)] = []
    /// --manage-cgroups: threads with cgroups of their own go there as they are made.
    var cgroups: CgroupPlacer?
    /// A stopped process with libcr: stopped only once its restart callbacks
    /// have run (BLCR's stopped test), by `stopAfterCallbacks()`.
    var stopsAfterCallbacks = false
    /// Stopped again after the restart, as at checkpoint time (not when
    /// cr_restart was given a signal to send instead).
    var staysStopped: Bool

    var threadIDs: [pid_t] { threads.map(\.tid) }

    /// Each thread's saved CPU affinity, once the restorer's pin is off them.
    func restoreAffinity() -> [String] {
        threads.compactMap { CPUPlacement.restore($0.state.affinity, tid: $0.tid, what: "thread \($0.state.tid)") }
    }

    /// SCHED_DEADLINE reservations, after `restoreAffinity`.
    func restoreDeadlines() -> [String] {
        threads.compactMap { TaskRestorer.setDeadline($0.state, tid: $0.tid) }
    }
    var memory: RemoteMemory { session.memory }

    init(stub: pid_t, innerPID: pid_t, process: ProcessState, inventory: Inventory, log: Logger) throws {
        self.stub = stub
        self.innerPID = innerPID
        self.process = process
        self.inventory = inventory
        self.log = log
        staysStopped = process.stopped
        let regs = try Ptrace.registers(stub)
        stubMaps = try ProcMaps.parse(try Sys.readText("/proc/\(stub)/maps"))
        let instruction = try SyscallInjector.findInstruction(pid: stub, registers: regs, maps: stubMaps)
        session = RemoteSession(pid: stub, injector: SyscallInjector(tid: stub, instruction: instruction, template: regs))
        space = AddressSpaceRestorer(session: session, process: process, log: log)
    }

    /// The stages before the pages (RestoreStage.beforePages).
    func prepare(shared: SharedMemoryFactory, sysv: SysVFactory, unlinked: UnlinkedFileFactory? = nil) throws {
        for stage in RestoreStage.beforePages { try run(stage, shared: shared, sysv: sysv, unlinked: unlinked) }
    }

    /// The stages after the pages (RestoreStage.afterPages).
    /// - Parameter quietChildSignal: a SIGCHLD raised in the stub by recreating
    ///   its zombie children is to be dropped (the process had seen it already).
    func finish(ids: RequestedIDs, quietChildSignal: Bool, seccompSuspended: Bool, sharedTable: Bool = false, objects: SharedFileObjects,
                userNamespace: UserNamespaceEntry? = nil) throws -> [String] {
        let after = AfterPages(ids: ids, quietChildSignal: quietChildSignal, seccompSuspended: seccompSuspended,
                               sharedTable: sharedTable, objects: objects, userNamespace: userNamespace)
        var warnings: [String] = []
        for stage in RestoreStage.afterPages { warnings += try run(stage, after) }
        return warnings
    }

    struct AfterPages {
        /// The IDs threads and the terminal's foreground group ask for.
        let ids: RequestedIDs
        let quietChildSignal: Bool
        let seccompSuspended: Bool
        /// Its fd table is its parent's (CLONE_FILES), restored with the parent.
        let sharedTable: Bool
        let objects: SharedFileObjects
        /// The user namespace of its own it enters with its credentials.
        let userNamespace: UserNamespaceEntry?
    }

    private func run(_ stage: RestoreStage, shared: SharedMemoryFactory, sysv: SysVFactory, unlinked: UnlinkedFileFactory?) throws {
        guard let thread = process.threads.first else { throw CheckpointError(EINVAL, "image process \(process.pid) has no thread") }
        switch stage {
        case .checkCPU:
            let missing = inventory.xfeatures & ~MachineInfo.xfeatures
            guard missing == 0 else {
                throw CheckpointError(BLCRCode.badArch, "image uses CPU state components 0x\(String(missing, radix: 16)) this CPU does not enable (image XCR0 0x\(String(inventory.xfeatures, radix: 16)), here 0x\(String(MachineInfo.xfeatures, radix: 16)))")
            }
            let xsaveHere = try Ptrace.extendedState(stub)
            guard xsaveHere.count == thread.xsave.count else {
                throw CheckpointError(BLCRCode.badArch, "image FPU state is \(thread.xsave.count) bytes (XCR0 0x\(String(inventory.xfeatures, radix: 16))), this CPU uses \(xsaveHere.count)")
            }
        case .trampoline: try space.installTrampoline(stubMaps: stubMaps)
        case .clearStub: try space.clearStub(stubMaps: stubMaps)
        case .placeVDSO: try space.placeVDSO(stubMaps: stubMaps, imageKernel: inventory.kernelRelease)
        case .mappings: try space.createMappings(shared: shared, sysv: sysv, unlinked: unlinked)
        default: throw CheckpointError(EINVAL, "internal: restore stage \(stage) run before the pages")
        }
    }

    /// A process with threads in a user namespace of its own: only a process
    /// of one thread may enter one (setns), so its other threads are made
    /// once it is in, where their IDs can still be had: any (no exact IDs), or
    /// through ns_last_pid, which we (root) set in our PID namespace for each,
    /// or, in a user's restart, the PID 1 of the PID namespace it made (set_tid
    /// would want CAP_CHECKPOINT_RESTORE over that namespace's owner). Where
    /// neither can (a PID namespace of the image's own) it stays in cr_restart's (a warning).
    private func threadsWaitForNamespace(_ a: AfterPages) -> Bool {
        guard a.userNamespace != nil && process.threads.count > 1 else { return false }
        if !a.ids.exact { return true }
        if a.ids.ownNamespace { return false }
        return PIDNamespace.entered ? NamespaceProc.serving : geteuid() == 0
    }

    /// The threads of a process that has just entered its user namespace, with
    /// what the stages before the credentials gave the others: cgroups, thread
    /// state, scheduling, then the process's timers (some name a thread).
    private func makeThreadsInside(_ a: AfterPages) throws -> [String] {
        var warnings: [String] = []
        let own = process.uids + process.gids + process.capabilities
        for t in process.threads.dropFirst() {
            let created = try a.ids(t.tid).map { try ThreadCreator.create(t, from: session, lastIDBelow: $0) }
                ?? ThreadCreator.create(t, from: session, exactID: nil)
            threads.append((created.session.pid, created.inner, t, created.session))
            if !t.cgroups.isEmpty { try cgroups?.place(thread: created.session.pid, of: stub, who: t.tid, in: t.cgroups) }
            warnings += try TaskRestorer.restoreThread(t, in: created.session, pid: innerPID, tid: created.inner)
            warnings += TaskRestorer.setScheduling(t, tid: created.session.pid)
            if t.parentDeathSignal != 0 { try created.session.prctl(.setPdeathsig, t.parentDeathSignal) }
            // Made by the main thread inside, with its credentials.
            if t.credentials.count == 13 && t.credentials != own {
                warnings.append("process \(process.pid): thread \(t.tid) had credentials of its own; it has its process's")
            }
        }
        let innerTIDs = Dictionary(uniqueKeysWithValues: threads.map { ($0.state.tid, $0.inner) })
        warnings += try ThreadPidFDs.remake(process, in: session, innerTID: innerTIDs)
        return warnings + (try TimerRestorer(session: session, process: process, threadIDs: innerTIDs).restore())
    }

    private func run(_ stage: RestoreStage, _ a: AfterPages) throws -> [String] {
        guard let thread = process.threads.first else { return [] }
        let task = TaskRestorer(session: session, process: process, log: log)
        switch stage {
        case .finishMappings: try space.finishMappings()
        case .files:
            if a.sharedTable { return [] }
            return try FileRestorer(session: session, process: process, log: log, objects: a.objects).restore()
        case .environment:
            var warnings = try task.restoreEnvironment()
            if a.ids.exact { warnings += try task.restoreForegroundGroup(ids: a.ids) }
            return warnings
        case .signals:
            if a.quietChildSignal { try task.dropPendingChildSignal() }
            try task.restoreSignals(pid: innerPID)
        case .threads:
            threads = [(stub, innerPID, thread, session)]
            if threadsWaitForNamespace(a) { return [] }
            for t in process.threads.dropFirst() {
                let created = try ThreadCreator.create(t, from: session, exactID: a.ids(t.tid))
                threads.append((created.session.pid, created.inner, t, created.session))
                if !t.cgroups.isEmpty { try cgroups?.place(thread: created.session.pid, of: stub, who: t.tid, in: t.cgroups) }
            }
            return try ThreadPidFDs.remake(process, in: session, innerTID: Dictionary(uniqueKeysWithValues: threads.map { ($0.state.tid, $0.inner) }))
        case .threadState:
            return try threads.flatMap { try TaskRestorer.restoreThread($0.state, in: $0.session, pid: innerPID, tid: $0.inner) }
        case .timers:
            if threadsWaitForNamespace(a) { return [] }  // once its threads are made (makeThreadsInside)
            let innerTIDs = Dictionary(uniqueKeysWithValues: threads.map { ($0.state.tid, $0.inner) })
            return try TimerRestorer(session: session, process: process, threadIDs: innerTIDs).restore()
        case .scheduling:
            return threads.flatMap { TaskRestorer.setScheduling($0.state, tid: $0.tid) }
        case .credentials:
            // With seccomp suspended (root) the filters cannot stop later calls:
            // they go in while the stub still has the privilege a process that
            // installed them as root and then dropped it had (no NNP needed).
            if a.seccompSuspended {
                try SeccompRestorer.installAll(threads.map { ($0.state.seccompFilters, $0.session) })
            }
            // In a user namespace of its own: a process of one thread (UserNamespaces) enters it with them.
            if let ns = a.userNamespace, threads.count == 1 {
                let mine = try task.restoreCredentials(entering: ns)
                try KeepCaps.restoreLast(process, in: session)
                try session.prctl(.setPdeathsig, process.parentDeathSignal)
                return threadsWaitForNamespace(a) ? mine + (try makeThreadsInside(a)) : mine
            }
            // Credentials are per thread: each drops to its own (or the process's) in itself.
            var warnings: [String] = a.userNamespace == nil ? [] : ["process \(process.pid) has threads, whose original IDs this restart cannot give them inside its user namespace: it stays in cr_restart's (with --no-restore-pid it comes back in its own)"]
            for t in threads.dropFirst() {
                var own = process
                if t.state.credentials.count == 13 {
                    let c = t.state.credentials
                    (own.uids, own.gids, own.capabilities) = (Array(c[0..<4]), Array(c[4..<8]), Array(c[8..<13]))
                }
                warnings += try TaskRestorer(session: t.session, process: own, log: log).restoreCredentials()
            }
            let mine = try task.restoreCredentials()
            try KeepCaps.restoreLast(process, in: session)
            // After the credentials, which clear it when a user or group ID
            // changes (commit_creds). The main thread's always: its stub was
            // born with SIGKILL there, to die with a killed restorer.
            for (k, t) in threads.enumerated() {
                let signal = k == 0 ? process.parentDeathSignal : t.state.parentDeathSignal
                if k == 0 || signal != 0 { try t.session.prctl(.setPdeathsig, signal) }
            }
            return mine + warnings
        case .seccomp:
            if !a.seccompSuspended {
                try SeccompRestorer.installAll(threads.map { ($0.state.seccompFilters, $0.session) })
            }
            return try threads.filter(\.state.seccompStrict).compactMap { try SeccompRestorer.enterStrictMode(in: $0.session, suspended: a.seccompSuspended) }
        case .dropTrampoline:
            _ = try session.injector.raw(NR.munmap, space.trampoline, space.trampolineSize)
        case .registers:
            let handlers = Dictionary(uniqueKeysWithValues: process.signalActions.map { ($0.signal, (handler: $0.handler, flags: $0.flags)) })
            for t in threads {
                // What is pending now: the image's signals re-queued plus any sent during the restore.
                let status = try ProcStatus.read(pid: t.tid)
                let pendingBits = (status.signalSet("SigPnd") ?? 0) | (status.signalSet("ShdPnd") ?? 0)
                let interrupting = SyscallRestart.interruptingHandler(pending: pendingBits, blocked: t.state.signalMask, actions: handlers)
                let saved = RegisterFile.registers(from: t.state.registers)
                let finalRegs = SyscallRestart.resume(saved, interruptingHandler: interrupting, canRestartBlock: false)
                if finalRegs.rip != saved.rip { reissued.append((t.tid, finalRegs.rax)) }
                try Ptrace.setRegisters(t.tid, finalRegs)
                try Ptrace.setExtendedState(t.tid, t.state.xsave)
                try Ptrace.setSignalMask(t.tid, t.state.signalMask)
            }
        default: throw CheckpointError(EINVAL, "internal: restore stage \(stage) run after the pages")
        }
        return []
    }

    /// As `detach`, but the restorer stays the tracer, told of forks and
    /// clones (a user's lazy restore: ForkTracer lets go once every page is in).
    func resumeTraced() throws {
        if staysStopped { kill(stub, process.stopSignal) }
        for t in threads.reversed() {
            try Ptrace.setOptions(t.tid, ForkTracer.options)
            try Ptrace.toSyscall(t.tid)
        }
        for sig in threads.flatMap({ $0.session.injector.heldSignals }) { kill(stub, sig) }
    }

    func detach() throws {
        // Queued while still traced, so the stop comes before any instruction
        // runs: sent after the detach, the process ran on past its image point
        // (a child that could read its pipe exited instead of staying stopped).
        let stopsNow = staysStopped && !stopsAfterCallbacks
        if stopsNow { kill(stub, process.stopSignal) }
        for t in threads.reversed() { try Ptrace.detach(t.tid) }
        testHookAfterDetach()
        for sig in threads.flatMap({ $0.session.injector.heldSignals }) { kill(stub, sig) }
        waitUntilBackInTheirCalls()
        if stopsNow { waitUntilStopped() }
    }

    /// A stopped process is stopped only once it has run to take its queued
    /// stop signal: until then its parent, restored next, could see it
    /// running (state R). Bounded (100 ms) for a machine that is slow to
    /// schedule it; a process group stop reached is the normal end.
    func stopAfterCallbacks() {
        guard stopsAfterCallbacks && staysStopped else { return }
        AgentRendezvous.awaitServed(stub, within: 30)
        kill(stub, process.stopSignal)
        waitUntilStopped()
    }

    private func waitUntilStopped() {
        let deadline = Clock.now + 0.1
        while Clock.now < deadline {
            guard let stat = try? ProcStat.read(pid: stub), stat.state != "T" && stat.state != "t" else { return }
            usleep(100)
        }
    }

    /// A thread set to issue its interrupted call again (pause(), a read...)
    /// must be inside it before anyone may signal it: a signal that came
    /// first would run its handler and then the call would wait for another
    /// (the original, already waiting, would have been woken). So detach
    /// returns once each such thread is back in its call (/proc/.../syscall
    /// names it), or after 10 ms for a call that returned at once.
    private func waitUntilBackInTheirCalls() {
        let deadline = Clock.now + 0.01
        for (tid, call) in reissued {
            while Clock.now < deadline {
                guard let text = try? Sys.readText("/proc/\(stub)/task/\(tid)/syscall") else { break }
                if text.split(separator: " ").first.flatMap({ UInt64($0) }) == call { break }
                usleep(100)
            }
        }
    }
}

/// Streams PAGES sections into the stubs they belong to, until END. The
/// sections come in the image's process order (parents first), so a process's
/// pages can be written as soon as it is prepared, before its children that
/// inherit them are forked.
struct PageStream {
    let reader: ImageReader
    /// A section read but not yet written: its process is not prepared yet.
    private var pending: ImageReader.PagesSection?
    private var ended = false
    /// Parents whose pages a child took by fork: none of theirs may come later.
    private var sealed: Set<pid_t> = []
    /// Told the reader's offset after each section written.
    var progress: ((UInt64) -> Void)?
    /// Lazy restore: the reader hands out tables only; sections the plan lets
    /// wait are kept (by image PID) for the pager, the others loaded and written.
    var lazy: (plan: LazyPlan, loader: PagesSectionLoader)?
    /// Eager restore: private anonymous memory goes in by UFFDIO_COPY where it can.
    var copyFill: CopyFill?
    /// Eager restore of a compressed image read ahead: frames are decompressed
    /// and written on worker threads (the reader leaves them compressed).
    var frameFill: FrameFill?
    /// Eager restore from a file read without its page data: plain sections
    /// are mapped and put in on worker threads, compressed ones loaded here.
    var mapped: (fill: MappedFill, loader: PagesSectionLoader)?
    private(set) var deferred: [pid_t: [ImageReader.PagesSection]] = [:]

    init(reader: ImageReader, first: ImageReader.PagesSection?) {
        self.reader = reader
        pending = first
    }

    /// Writes sections while they belong to a prepared process.
    mutating func write(into restores: [ProcessRestore]) throws {
        try run(restores, toEnd: false)
    }

    /// Writes the rest, up to END (every process is prepared by now).
    mutating func finish(into restores: [ProcessRestore]) throws {
        try run(restores, toEnd: true)
    }

    /// A child is about to be forked from `parent`: its pages must all be in.
    mutating func seal(_ parent: pid_t) throws {
        if let p = pending, p.pid == parent {
            throw CheckpointError(EINVAL, "PAGES of process \(parent) come after those of a child that shares them; copy-on-write sharing cannot be rebuilt")
        }
        try frameFill?.wait()
        try mapped?.fill.wait()
        sealed.insert(parent)
    }

    private mutating func run(_ restores: [ProcessRestore], toEnd: Bool) throws {
        let byPID = Dictionary(uniqueKeysWithValues: restores.map { ($0.process.pid, $0) })
        while true {
            if pending == nil && !ended {
                // Image errors go up as they are: the restorer names the damaged image.
                switch try reader.next() {
                case .pages(let p)?: pending = p
                case .end?: ended = true
                case .process?, .zombie?, .tree?: throw CheckpointError(EINVAL, "a PROCESS, ZOMBIE or TREE record after page data")
                case .index?, .inventory?: continue
                case nil: ended = true
                }
            }
            guard let p = pending else {
                if toEnd {
                    try frameFill?.wait()
                    try mapped?.fill.wait()
                }
                return
            }
            guard let r = byPID[p.pid] else {
                if toEnd { throw CheckpointError(EINVAL, "PAGES section for PID \(p.pid), which the image does not hold") }
                return
            }
            if sealed.contains(p.pid) {
                throw CheckpointError(EINVAL, "PAGES of process \(p.pid) come after those of a child that shares them; copy-on-write sharing cannot be rebuilt")
            }
            for run in p.runs { try r.space.validate(run) }
            if let (plan, loader) = lazy {
                if plan.mayWait(p) {
                    deferred[p.pid, default: []].append(p)
                } else {
                    try r.memory.write(ranges: p.runs.map { ($0.address, Int($0.byteCount)) }, from: try loader.load(p))
                }
            } else if let frame = p.frame {
                guard let frames = frameFill else { throw CheckpointError(EINVAL, "a compressed PAGES section left undecompressed") }
                try frames.submit(p, frame: frame, to: copyFill?.destination(for: r) ?? PageDestination(memory: r.memory, uffd: nil, ranges: []))
            } else if let (fill, loader) = mapped, p.data.count < p.byteCount {
                let destination = copyFill?.destination(for: r) ?? PageDestination(memory: r.memory, uffd: nil, ranges: [])
                if p.runs.first?.compressed == true {
                    try destination.write(p.runs, data: try loader.load(p), from: 0)
                } else {
                    try fill.submit(p, to: destination)
                }
            } else if let fill = copyFill {
                try fill.write(p, data: p.data, into: r)
            } else {
                try r.memory.write(ranges: p.runs.map { ($0.address, Int($0.byteCount)) }, from: p.data)
            }
            pending = nil
            progress?(reader.offset)
        }
    }
}
