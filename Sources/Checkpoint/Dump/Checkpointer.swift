import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Where an image goes. `commit()` makes it durable and visible under its
/// final name; `discard()` removes every trace of a failed attempt.
public protocol ImageDestination: AnyObject {
    var fd: Int32 { get }
    func commit() throws
    func discard()
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
    /// Called with (bytes done, bytes total) while memory is dumped.
    public var progress: ((UInt64, UInt64) -> Void)?

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
}

/// Checkpoints one process: freeze, collect, dump, commit, then let it go.
/// On any failure the process is thawed as it was and the destination discarded.
public enum Checkpointer {
    public static func checkpoint(_ options: CheckpointOptions, to destination: ImageDestination, log: Logger) throws -> CheckpointSummary {
        let pid = options.pid
        try TargetCheck.verify(pid: pid, scope: options.scope)
        try TargetCheck.verifyPtrace(pid: pid, ptraced: options.ptraced, ptracer: options.ptracer)
        // Read before freezing: a traced task shows 't', a stopped one 'T'.
        let wasStopped = (try? ProcStat.read(pid: pid))?.state == "T"
        let started = Clock.now
        let frozen: FrozenProcess
        do {
            frozen = try FrozenProcess.freeze(pid, log: log)
        } catch let e as SystemCallError {
            destination.discard()
            throw TargetCheck.explainFreezeFailure(pid: pid, e)
        } catch {
            destination.discard()
            throw error
        }
        do {
            var collected = try ProcessCollector(frozen: frozen, log: log).collect()
            collected.state.stopped = wasStopped
            let writer = try ImageWriter(fd: destination.fd)
            let xsave = collected.state.threads.first?.xsave ?? []
            try writer.write(Inventory(
                producer: MachineInfo.producer, kernelRelease: MachineInfo.kernelRelease, machine: MachineInfo.machine,
                hostname: MachineInfo.hostname, createdAt: UInt64(time(nil)), xsaveSize: UInt64(xsave.count),
                xfeatures: MachineInfo.xfeatures, scope: options.scope.rawValue, target: pid))
            try writer.write(collected.state)
            var dumper = MemoryDumper(pid: pid, writer: writer)
            dumper.progress = options.progress
            let stats = try dumper.dump(try dumper.candidates(collected.maps))
            try writer.finish()
            try destination.commit()
            frozen.thaw(log: log)
            let frozenFor = Clock.now - started
            if options.signalAfter != 0 { kill(pid, options.signalAfter) }
            return CheckpointSummary(pid: pid, imageBytes: writer.offset, savedPages: stats.savedPages, zeroPages: stats.zeroPages,
                                     mappings: collected.state.mappings.count, files: collected.state.files.count,
                                     warnings: collected.warnings, frozenSeconds: frozenFor)
        } catch {
            destination.discard()
            frozen.thaw(log: log)
            if let e = error as? SystemCallError { throw CheckpointError(e.errno.rawValue, "checkpoint of \(pid) failed: \(e)") }
            if let e = error as? ImageError {
                if case .io(_, let code) = e { throw CheckpointError(code, "checkpoint of \(pid) failed: \(e)") }
                throw CheckpointError(EIO, "checkpoint of \(pid) failed: \(e)")
            }
            throw error
        }
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
