import AgentWire
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
    /// CR_CHKPT_PROHIBIT_SELF: a scope that comes to include the requester
    /// (a callback's cr_forward_checkpoint) fails with EDEADLK.
    public var prohibitSelf = false
    public var destinationDescription = ""
    /// Called with (bytes done, bytes total) while memory is dumped.
    public var progress: ((UInt64, UInt64) -> Void)?
    /// Read the finished image back and check it (headers, checksums, index)
    /// before it gets its final name; --no-verify turns this off.
    public var verifyImage = true
    /// --cgroup-root: cgroups are saved as seen from these roots.
    public var cgroupRoots: [CgroupRoot] = []
    /// --pre-dump: memory is read while the processes run on (frozen only
    /// while everything else is read), and their writes are tracked from
    /// then on; the image is a parent for incremental checkpoints only.
    public var preDump = false
    /// --parent: an incremental checkpoint saves only the pages written
    /// since this image (a pre-dump or an earlier incremental image).
    public var parentPath: String?
    /// --stop-tracking: the write tracking leaves the processes after this checkpoint.
    public var stopTracking = false
    /// --compress[=LEVEL]: page data as zstd frames at this level (ZPAGES sections).
    public var compressLevel: Int32?

    public init(pid: pid_t) { self.pid = pid }

    /// Whether the processes' writes are tracked after this checkpoint.
    var keepsTracking: Bool { (preDump || parentPath != nil) && !stopTracking && signalAfter != SIGKILL }
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
    /// Incremental checkpoints: pages left to the parent image (not written since).
    public var parentPages: UInt64 = 0
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
                                              signal: options.signalAfter,
                                              flags: AgentWire.Request.answersForwards | (options.prohibitSelf ? AgentWire.Request.prohibitSelf : 0),
                                              destination: options.destinationDescription)
        var total = AgentRendezvous.Outcome()
        do {
            try runCallbackRounds(options, &scope, request: request, into: &total, log: log)
        } catch {
            AgentRendezvous.stopAgain(total.continued)
            throw error
        }
        return total
    }

    /// Rounds of callbacks: the processes of the scope, then those the
    /// callbacks forwarded the checkpoint to, until no new one comes.
    private static func runCallbackRounds(_ options: CheckpointOptions, _ scope: inout TreeScope, request: AgentRendezvous.Request,
                                          into total: inout AgentRendezvous.Outcome, log: Logger) throws {
        var asked: Set<pid_t> = []
        var round = scope.live
        while !round.isEmpty {
            asked.formUnion(round)
            let outcome: AgentRendezvous.Outcome
            do {
                let members = Set(scope.live).union(asked)
                outcome = try AgentRendezvous.run(round, request: request, timeLimit: options.timeLimit, log: log) { kind, target in
                    forwardRefusal(options, scope: kind, target: target, alreadyIn: members)
                }
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
            total.continued.formUnion(outcome.continued)
            if options.requireLibcr, let p = outcome.withoutAgent.first {
                AgentRendezvous.release(total.ready.merging(outcome.ready) { a, _ in a }, failed: BLCRCode.noSupport)
                throw CheckpointError(BLCRCode.noSupport, "process \(p) has no checkpoint support linked in (libcr; see cr_run), and --require-libcr is set")
            }
            total.ready.merge(outcome.ready) { a, _ in a }
            total.listeners.merge(outcome.listeners) { a, _ in a }
            total.omitted.formUnion(outcome.omitted)
            total.warnings += outcome.warnings
            scope.live.removeAll { outcome.omitted.contains($0) }
            var added: [pid_t] = []
            for f in outcome.forwarded {
                guard let kind = CheckpointOptions.Scope(rawValue: f.scope), let extra = try? TreeScope.resolve(f.pid, kind) else {
                    total.warnings.append("cr_forward_checkpoint(\(f.scope), \(f.pid)): nothing to add")
                    continue
                }
                if options.prohibitSelf && extra.live.contains(options.requester) {
                    // (An agent that asks first was refused EDEADLK in its call; an older one's forward is dropped.)
                    total.warnings.append("cr_forward_checkpoint(\(f.scope), \(f.pid)) takes in the requester \(options.requester), which asked not to be (CR_CHKPT_PROHIBIT_SELF): not forwarded")
                    continue
                }
                for p in extra.live where !scope.live.contains(p) && !asked.contains(p) { scope.live.append(p); added.append(p) }
            }
            round = added
        }
    }


    /// Whether a callback's cr_forward_checkpoint(scope, target) is refused,
    /// and with what errno (BLCR's kernel checks it in the call, do_chkpt_fwd):
    /// init is never checkpointed (EPERM), nor a process this user may not
    /// signal (EPERM); none found (ESRCH); the requester with
    /// CR_CHKPT_PROHIBIT_SELF (EDEADLK); one in the callbacks of another
    /// checkpoint (EBUSY). 0: taken.
    static func forwardRefusal(_ options: CheckpointOptions, scope: UInt32, target: pid_t, alreadyIn: Set<pid_t>) -> Int32 {
        guard let kind = CheckpointOptions.Scope(rawValue: scope), target > 0 else { return EINVAL }
        if target == 1 { return EPERM }
        let found: TreeScope
        do { found = try TreeScope.resolve(target, kind) } catch { return (error as? CheckpointError)?.code ?? ESRCH }
        if found.live.isEmpty { return ESRCH }
        if found.live.contains(1) { return EPERM }
        if options.prohibitSelf && found.live.contains(options.requester) { return EDEADLK }
        for p in found.live where kill(p, 0) != 0 && errno == EPERM { return EPERM }
        for p in found.live where !alreadyIn.contains(p) && AgentRendezvous.agentThread(p)?.busy == true { return EBUSY }
        return 0
    }

    /// The stages run in order (CheckpointRun); any failure abandons the
    /// run: every process thawed as it was, the destination discarded.
    public static func checkpoint(_ options: CheckpointOptions, to destination: ImageDestination, log: Logger) throws -> CheckpointSummary {
        let run = CheckpointRun(options: options, destination: destination, log: log)
        // Each stage's time, in the debug log (-v): where a checkpoint's time goes.
        var stages = StageTimes()
        defer { log.debug("stages: \(stages)") }
        do {
            try stages.time("scope") { try run.resolveScope() }
            try stages.time("parent") { try run.openParent() }
            if !options.preDump { try stages.time("callbacks") { try run.runCallbacks() } }
            stages.time("staging") { run.prepareStaging() }
            try stages.time("freeze") { try run.freezeScope() }
            run.lockConnections()
            try stages.time("collect") { try run.collectProcesses() }
            try stages.time("tree") { try run.collectTreeObjects() }
            try stages.time("metadata") { try run.writeMetadata() }
            if options.preDump { stages.time("thaw") { run.thawForPreDump() } }
            try stages.time("memory") { try run.dumpMemory() }
            if run.hasStagedPages {
                stages.time("thaw") { run.thawIfRunningOn() }
                try stages.time("staged") { try run.writeStagedMemory() }
            }
            try stages.time("close") { try run.closeImage() }
            stages.time("thaw") { run.thawIfRunningOn() }
            try stages.time("commit") { try run.commitImage() }
            return stages.time("release") { run.release() }
        } catch {
            throw run.abandon(error)
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
        if let first = ImageVerifier.verify(path: path, trusting: pagesReadBack, ownFile: true).first {
            throw CheckpointError(EIO, "the image failed its check before commit: \(first)")
        }
        return Clock.now - started
    }
}

/// How long each named stage took, in the order they ran.
struct StageTimes: CustomStringConvertible {
    private var spans: [(String, Double)] = []
    private var lapStart = Clock.now

    mutating func time<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let start = Clock.now
        defer { spans.append((name, Clock.now - start)) }
        return try body()
    }

    /// Closes a span that began at the last lap (or at creation) and names it.
    mutating func lap(_ name: String) {
        let now = Clock.now
        spans.append((name, now - lapStart))
        lapStart = now
    }

    var description: String {
        spans.map { name, seconds in
            let tenths = Int((seconds * 10_000).rounded())
            return "\(name) \(tenths / 10).\(tenths % 10) ms"
        }.joined(separator: ", ")
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
