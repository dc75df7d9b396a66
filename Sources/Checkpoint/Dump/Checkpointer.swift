import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Where an image goes. `commit()` makes it durable and visible under its
/// final name; `discard()` removes every trace of a failed attempt.
public protocol ImageDestination: AnyObject {
    var fd: Int32 { get }
    /// Where the finished bytes can be read back before commit (nil: a pipe
    /// or a descriptor the caller owns, which cannot be checked here).
    var verifiablePath: String? { get }
    func commit() throws
    func discard()
}

extension ImageDestination {
    public var verifiablePath: String? { nil }
}

public struct CheckpointOptions {
    /// BLCR scopes (cr_scope_t values).
    public enum Scope: UInt32, Sendable { case process = 0, group = 1, session = 2, tree = 3 }

    public var pid: pid_t
    public var scope: Scope = .tree
    /// Signal sent once the image is complete (0: let it run, BLCR's --run).
    public var signalAfter: Int32 = 0
    /// BLCR's --ptraced-{error,skip,allow} and --ptracer-{error,skip}.
    public enum PtracePolicy: Sendable { case error, skip, allow }
    public var ptraced: PtracePolicy = .error
    public var ptracer: PtracePolicy = .error
    /// BLCR's --save-exe/--save-private/--save-shared: file mappings whose
    /// contents go into the image, so a restart survives the files changing.
    public struct SaveContents: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let executable = SaveContents(rawValue: 1)
        public static let privateFiles = SaveContents(rawValue: 2)
        public static let sharedFiles = SaveContents(rawValue: 4)
    }
    public var save: SaveContents = []
    /// BLCR's strictness: every process must have libcr (else CR_ENOSUPPORT).
    public var requireLibcr = false
    /// -t/--time: seconds the callbacks may take (nil: no limit).
    public var timeLimit: Double?
    /// Told to libcr callbacks (cr_get_checkpoint_info): who asked, and where the image goes.
    public var requester: pid_t = getpid()
    public var destinationDescription = ""
    /// Called with (bytes done, bytes total) while memory is dumped.
    public var progress: ((UInt64, UInt64) -> Void)?
    /// Read the finished image back and check it (headers, checksums, index)
    /// before it gets its final name; --no-verify turns this off.
    public var verifyImage = true

    public init(pid: pid_t) { self.pid = pid }
}

public struct CheckpointSummary: Sendable {
    public var pid: pid_t
    public var imageBytes: UInt64
    public var savedPages: UInt64
    public var zeroPages: UInt64
    public var mappings: Int
    public var files: Int
    public var warnings: [String]
    public var frozenSeconds: Double
    public var processes: Int = 1
    public var zombies: Int = 0
    /// Seconds spent reading the image back before commit (0 when not checked).
    public var verifySeconds: Double = 0
}

/// Checkpoints a process, tree, group or session: freeze everything, collect,
/// write every PROCESS (and ZOMBIE) record, then the pages, commit, and let
/// them go. On any failure all of them are thawed as they were and the
/// destination discarded.
public enum Checkpointer {
    /// libcr callbacks before the freeze: omitted processes leave the scope,
    /// forwarded ones join it (and get their callbacks too), a failure
    /// cancels the checkpoint (TEMP) or also kills the scope (PERM).
    static func runCallbacks(_ options: CheckpointOptions, _ scope: inout TreeScope, log: Logger) throws -> AgentRendezvous.Outcome {
        let request = AgentRendezvous.Request(scope: options.scope.rawValue, target: options.pid, requester: options.requester,
                                              signal: options.signalAfter, flags: 0, destination: options.destinationDescription)
        var total = AgentRendezvous.Outcome()
        var asked: Set<pid_t> = []
        var round = scope.live
        while !round.isEmpty {
            asked.formUnion(round)
            let outcome: AgentRendezvous.Outcome
            do {
                outcome = try AgentRendezvous.run(round, request: request, timeLimit: options.timeLimit, log: log)
            } catch let failure as AgentRendezvous.Failure {
                AgentRendezvous.release(total.ready, failed: BLCRCode.tempFail)
                switch failure {
                case .temporary(let p, let code):
                    throw CheckpointError(code != 0 ? code : BLCRCode.tempFail, "a callback of process \(p) cancelled the checkpoint (CR_ETEMPFAIL\(code != 0 ? ", code \(code)" : ""))")
                case .permanent(let p, let code):
                    for q in scope.live { kill(q, SIGKILL) }
                    throw CheckpointError(code != 0 ? code : BLCRCode.permFail, "a callback of process \(p) cancelled the checkpoint and its processes were killed (CR_EPERMFAIL\(code != 0 ? ", code \(code)" : ""))")
                }
            }
            if options.requireLibcr, let p = outcome.withoutAgent.first {
                AgentRendezvous.release(total.ready.merging(outcome.ready) { a, _ in a }, failed: BLCRCode.noSupport)
                throw CheckpointError(BLCRCode.noSupport, "process \(p) has no checkpoint support linked in (libcr; see cr_run), and --require-libcr is set")
            }
            total.ready.merge(outcome.ready) { a, _ in a }
            total.omitted.formUnion(outcome.omitted)
            total.warnings += outcome.warnings
            scope.live.removeAll { outcome.omitted.contains($0) }
            var added: [pid_t] = []
            for f in outcome.forwarded {
                guard let kind = CheckpointOptions.Scope(rawValue: f.scope), let extra = try? TreeScope.resolve(f.pid, kind) else {
                    total.warnings.append("cr_forward_checkpoint(\(f.scope), \(f.pid)): nothing to add")
                    continue
                }
                for p in extra.live where !scope.live.contains(p) && !asked.contains(p) { scope.live.append(p); added.append(p) }
            }
            round = added
        }
        return total
    }


    public static func checkpoint(_ options: CheckpointOptions, to destination: ImageDestination, log: Logger) throws -> CheckpointSummary {
        let pid = options.pid
        var frozen: [FrozenProcess] = []
        func thawAll() { for f in frozen.reversed() { f.thaw(log: log) } }
        let context = DumpContext(holdRepairs: options.signalAfter == SIGKILL)
        var agents = AgentRendezvous.Outcome()
        do {
            try TargetCheck.verify(pid: pid, scope: options.scope)
            var scope = try TreeScope.resolve(pid, options.scope)
            let traces = TargetCheck.TraceMap.scan()
            scope.live = try scope.live.filter { !(try TargetCheck.skipForPtrace(pid: $0, traces: traces, ptraced: options.ptraced, ptracer: options.ptracer)) }
            guard !scope.live.isEmpty else { throw CheckpointError(ESRCH, "nothing is left to checkpoint in the scope of \(pid)") }
            agents = try Self.runCallbacks(options, &scope, log: log)
            guard !scope.live.isEmpty else {
                throw CheckpointError(ESRCH, "nothing is left to checkpoint in the scope of \(pid): every process asked to be omitted")
            }
            let started = Clock.now
            var stopped: Set<pid_t> = []
            // Top down, then again for children forked while their parents were being frozen.
            for _ in 0..<10 {
                let fresh = scope.live.filter { p in !frozen.contains { $0.pid == p } }
                if fresh.isEmpty { break }
                for p in fresh {
                    // Read before freezing: a traced task shows 't', a stopped one 'T'.
                    if (try? ProcStat.read(pid: p))?.state == "T" { stopped.insert(p) }
                    do { frozen.append(try FrozenProcess.freeze(p, log: log)) } catch let e as SystemCallError {
                        throw TargetCheck.explainFreezeFailure(pid: p, e)
                    }
                }
                let again = try TreeScope.resolve(pid, options.scope)
                scope.zombies = again.zombies
                scope.live += again.live.filter { !scope.live.contains($0) && !agents.omitted.contains($0) }
            }
            var collected: [ProcessCollector.Collected] = []
            for f in frozen {
                var c = try ProcessCollector(frozen: f, log: log, context: context, save: options.save).collect()
                c.state.stopped = stopped.contains(f.pid)
                collected.append(c)
            }
            let segments = collected.flatMap { $0.state.mappings.filter { $0.kind == .sysvShm }.map { Int32(truncatingIfNeeded: $0.inode) } }
            let sysv = try SysVCollector(pids: Set(collected.map(\.state.pid)), segmentIDs: Set(segments)).collect()
            if !collected.isEmpty {
                collected[0].state.sysvObjects = sysv.objects
                collected[0].warnings += sysv.warnings
            }
            for k in collected.indices {
                if let fd = agents.ready[collected[k].state.pid] { collected[k].state.agentResultFD = fd }
            }
            if !collected.isEmpty {
                collected[0].warnings += agents.warnings
                collected[0].state.omittedPIDs = agents.omitted.sorted()
            }
            let writer = try ImageWriter(fd: destination.fd)
            let xsave = collected.first?.state.threads.first?.xsave ?? []
            try writer.write(Inventory(
                producer: MachineInfo.producer, kernelRelease: MachineInfo.kernelRelease, machine: MachineInfo.machine,
                hostname: MachineInfo.hostname, createdAt: UInt64(time(nil)), xsaveSize: UInt64(xsave.count),
                xfeatures: MachineInfo.xfeatures, scope: options.scope.rawValue, target: pid))
            // Pagemap first: it also finds guard pages, which the mapping records carry.
            var plans: [(pid_t, [MemoryDumper.Candidate])] = []
            for k in collected.indices {
                let plan = try MemoryDumper(pid: collected[k].state.pid, writer: writer).candidates(collected[k].maps)
                for i in collected[k].state.mappings.indices {
                    if let g = plan.guards[collected[k].state.mappings[i].start] { collected[k].state.mappings[i].guardRuns = g }
                }
                plans.append((collected[k].state.pid, plan.runs))
            }
            for c in collected { try writer.write(c.state) }
            for z in scope.zombies { try writer.write(z) }
            var stats = MemoryDumper.Stats()
            testHookCheckpointPause("dump")
            let total = plans.reduce(UInt64(0)) { $0 + $1.1.reduce(0) { $0 + $1.pages } } * 4096
            var doneBefore: UInt64 = 0
            for (p, runs) in plans {
                var dumper = MemoryDumper(pid: p, writer: writer)
                dumper.readBack = options.verifyImage && destination.verifiablePath != nil
                let base = doneBefore
                dumper.progress = options.progress.map { report in { done, _ in report(base + done, total) } }
                let s = try dumper.dump(runs)
                stats.savedPages += s.savedPages
                stats.zeroPages += s.zeroPages
                stats.checkedSections += s.checkedSections
                doneBefore += s.candidatePages * 4096
            }
            try writer.finish()
            let verifySeconds = try verifyBeforeCommit(destination, options, pagesReadBack: Set(stats.checkedSections))
            try destination.commit()
            context.tcpRepairs.finish(keepOn: options.signalAfter == SIGKILL)
            if options.signalAfter != SIGKILL { AgentRendezvous.release(agents.ready, failed: nil) }
            thawAll()
            let frozenFor = Clock.now - started
            if options.signalAfter != 0 { for f in frozen { kill(f.pid, options.signalAfter) } }
            return CheckpointSummary(pid: pid, imageBytes: writer.offset, savedPages: stats.savedPages, zeroPages: stats.zeroPages,
                                     mappings: collected.reduce(0) { $0 + $1.state.mappings.count },
                                     files: collected.reduce(0) { $0 + $1.state.files.count },
                                     warnings: collected.flatMap(\.warnings), frozenSeconds: frozenFor,
                                     processes: collected.count, zombies: scope.zombies.count, verifySeconds: verifySeconds)
        } catch {
            destination.discard()
            context.tcpRepairs.finish(keepOn: false)
            AgentRendezvous.release(agents.ready, failed: (error as? CheckpointError)?.code ?? EIO)
            thawAll()
            if let e = error as? SystemCallError { throw CheckpointError(e.errno.rawValue, "checkpoint of \(pid) failed: \(e)") }
            if let e = error as? ImageError {
                if case .io(_, let code) = e { throw CheckpointError(code, "checkpoint of \(pid) failed: \(e)") }
                throw CheckpointError(EIO, "checkpoint of \(pid) failed: \(e)")
            }
            throw error
        }
    }
}

extension Checkpointer {
    /// The image is read back while the targets are still frozen: a problem
    /// fails the checkpoint, so the targets go on as before (no --kill) and
    /// nothing gets the final name.
    /// PAGES sections the dump already read back are trusted for their payload.
    static func verifyBeforeCommit(_ destination: ImageDestination, _ options: CheckpointOptions, pagesReadBack: Set<UInt64>) throws -> Double {
        guard let path = destination.verifiablePath else { return 0 }
        testHookDamageImage(path)
        guard options.verifyImage else { return 0 }
        let started = Clock.now
        if let first = ImageVerifier.verify(path: path, trusting: pagesReadBack).first {
            throw CheckpointError(EIO, "the image failed its check before commit: \(first)")
        }
        return Clock.now - started
    }
}

/// Monotonic seconds.
public enum Clock {
    public static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

extension Ptrace {
    public enum ExitStatus { case code(Int32), signal(Int32) }
    /// Decodes a plain waitpid status of a process that ended.
    public static func decodeExit(_ status: Int32) -> ExitStatus {
        (status & 0x7f) == 0 ? .code((status >> 8) & 0xff) : .signal(status & 0x7f)
    }
}
