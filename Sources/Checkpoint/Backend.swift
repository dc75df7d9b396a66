import Glibc
import Logging

/// How checkpoints are taken and restarted. The ptrace engine is swiftcr's
/// own; BLCR's kernel module, where it is loaded, is the other backend.
public protocol CheckpointBackend: Sendable {
    var name: String { get }
    func checkpoint(_ options: CheckpointOptions, to destination: ImageDestination, log: Logger) throws -> CheckpointSummary
    func restore(from fd: Int32, options: RestoreOptions, log: Logger) throws -> RestoredProcess
}

public struct PtraceBackend: CheckpointBackend {
    public init() {}
    public var name: String { "ptrace" }
    public func checkpoint(_ options: CheckpointOptions, to destination: ImageDestination, log: Logger) throws -> CheckpointSummary {
        try Checkpointer.checkpoint(options, to: destination, log: log)
    }
    public func restore(from fd: Int32, options: RestoreOptions, log: Logger) throws -> RestoredProcess {
        try Restorer.restore(from: fd, options: options, log: log)
    }
}

/// `--backend auto|ptrace|kernel`: auto takes BLCR's module when /proc/checkpoint/ctrl exists.
public enum BackendChoice: String, CaseIterable, Sendable {
    case auto, ptrace, kernel

    public func backend() throws -> CheckpointBackend {
        switch self {
        case .ptrace: return PtraceBackend()
        case .kernel:
            guard BLCRKernelBackend.isLoaded else {
                throw CheckpointError(ENOSYS, "--backend kernel: BLCR's kernel module is not loaded (no \(BLCRKernelBackend.control)); no BLCR module builds for this kernel, so use the ptrace backend (the default)")
            }
            return BLCRKernelBackend()
        case .auto: return BLCRKernelBackend.isLoaded ? BLCRKernelBackend() : PtraceBackend()
        }
    }
}

/// A thin client of BLCR's kernel module: a checkpoint is one ioctl on
/// /proc/checkpoint/ctrl, then a poll and a reap, as BLCR's cr_checkpoint
/// does; the context file is BLCR's own format. Unverified: no BLCR module
/// builds for the kernels swiftcr is tested on. Restart through the module
/// (BLCR's multi-process protocol) is not implemented.
public struct BLCRKernelBackend: CheckpointBackend {
    public static let control = "/proc/checkpoint/ctrl"
    static let requestCheckpoint: UInt = 0x4008_A110  // CR_OP_CHKPT_REQ
    static let reapCheckpoint: UInt = 0xA112          // CR_OP_CHKPT_REAP

    public static var isLoaded: Bool { access(control, F_OK) == 0 }
    public var name: String { "kernel" }

    public func checkpoint(_ options: CheckpointOptions, to destination: ImageDestination, log: Logger) throws -> CheckpointSummary {
        let ctl = open(Self.control, O_RDONLY | O_CLOEXEC)
        guard ctl >= 0 else { throw CheckpointError(errno: errno, "\(Self.control)") }
        defer { close(ctl) }
        // struct cr_chkpt_args: target, scope, fd, seconds, dump format (vmadump), signal, flags.
        var args: [Int32] = [options.pid, Int32(options.scope.rawValue), destination.fd, Int32(options.timeLimit ?? 0), 0, options.signalAfter, 0]
        guard ioctl(ctl, Self.requestCheckpoint, &args) >= 0 else {
            throw CheckpointError(errno: errno, "BLCR's module refused the checkpoint of \(options.pid)")
        }
        var p = pollfd(fd: ctl, events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, -1) < 0 && errno == EINTR {}
        let r = ioctl(ctl, Self.reapCheckpoint, 0)
        guard r >= 0 else { throw CheckpointError(errno: errno, "checkpoint of \(options.pid) through BLCR's module failed") }
        var st = stat()
        let bytes = fstat(destination.fd, &st) == 0 ? UInt64(st.st_size) : 0
        try destination.commit()
        return CheckpointSummary(pid: options.pid, imageBytes: bytes, savedPages: 0, zeroPages: 0, mappings: 0, files: 0,
                                 warnings: ["checkpointed by BLCR's kernel module (unverified backend); restart it with BLCR's cr_restart"], frozenSeconds: 0)
    }

    public func restore(from fd: Int32, options: RestoreOptions, log: Logger) throws -> RestoredProcess {
        throw CheckpointError(ENOSYS, "restart through BLCR's kernel module is not implemented; images from the module are BLCR's format, restart them with BLCR's own cr_restart")
    }
}
