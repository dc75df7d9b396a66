import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// One kind of open file, in the spirit of CRIU's fdtype_ops: how the dump
/// recognises and saves it, how the restart makes it again, and what
/// inspect says about it. Each kind lives in a folder of its own under
/// Resources/ and is listed once in `FileKinds.all`.
protocol FileKind: Sendable {
    /// The image kinds this type makes again at restart.
    static var restores: [FileDescriptorState.Kind] { get }
    /// Checkpoint: true if this descriptor is of this kind (asked in `FileKinds.all` order).
    static func claims(_ d: OpenDescriptor) -> Bool
    /// Checkpoint: sets `state.kind` and the kind's payload.
    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws
    /// Restart: the descriptor made again in the stub, or why it stays closed.
    static func restore(_ f: FileDescriptorState, in context: FileRestoreContext) throws -> RestoredFile
    /// Restart, once every descriptor of the process is back (epoll watches).
    static func finish(_ f: FileDescriptorState, in context: FileRestoreContext) throws
    /// A descriptor inherited across fork is handed over from the process
    /// that has it (SCM_RIGHTS) rather than made twice. False for kinds that
    /// are made once per kernel object anyway (sockets) or not at all.
    static var followsForkSharing: Bool { get }
    /// What inspect prints after the path (empty: nothing).
    static func describe(_ f: FileDescriptorState) -> String
}

extension FileKind {
    static func finish(_ f: FileDescriptorState, in context: FileRestoreContext) throws {}
    static var followsForkSharing: Bool { true }
    static func describe(_ f: FileDescriptorState) -> String { "" }
}

/// What the dump knows of one descriptor before asking the kinds.
struct OpenDescriptor {
    let pid: pid_t
    let fd: Int32
    /// The /proc/PID/fd/N link: a path, `pipe:[N]`, `anon_inode:[eventfd]`...
    let link: String
    let st: stat
    let info: FDInfo
    /// fdinfo as the kernel printed it.
    let fdinfo: String
    /// For a terminal or network socket on 0-2 shared with the outside: the
    /// stdio number it stands for (it becomes cr_restart's).
    let outsideStdio: Int32?

    var mode: mode_t { st.st_mode & S_IFMT }
    var device: UInt64 { UInt64(st.st_dev) }
    var inode: UInt64 { UInt64(st.st_ino) }
    var procPath: String { "/proc/\(pid)/fd/\(fd)" }
    var deleted: Bool { link.hasSuffix(" (deleted)") }
}

/// The dump's per-process view: the checkpoint-wide registries plus this
/// process's descriptors and warnings.
final class FileDumpContext {
    let pid: pid_t
    let shared: DumpContext
    let log: Logger
    /// Every descriptor of the process (inotify looks for its watched inodes among them).
    let descriptors: [OpenDescriptor]
    private(set) var warnings: [String] = []
    /// The descriptors collected so far, in order (a dup looks for its first here).
    var collected: [FileDescriptorState] = []
    /// This process's sockets, borrowed one at a time through its pidfd.
    lazy var sockets = SocketBorrower(pid: pid)

    /// Files found in flight in this process's socket queues.
    let inFlight: InFlightFiles

    init(pid: pid_t, shared: DumpContext, log: Logger, descriptors: [OpenDescriptor], inFlight: InFlightFiles? = nil) {
        self.pid = pid
        self.shared = shared
        self.log = log
        self.descriptors = descriptors
        self.inFlight = inFlight ?? InFlightFiles(base: (descriptors.map(\.fd).max() ?? 2) + 1)
    }

    func warn(_ message: String) { warnings.append(message) }

    /// Warns of events an inotify or fanotify group holds unread: they are
    /// not saved. FIONREAD counts them without taking them from the process.
    func warnOfUnreadEvents(_ d: OpenDescriptor, _ what: String) {
        guard let copy = try? SocketBorrower.borrowOnce(pid: d.pid, fd: d.fd) else { return }
        defer { close(copy) }
        var waiting: Int32 = 0
        let asked = withUnsafeMutablePointer(to: &waiting) { Syscall.raw(NR.ioctl, Int(copy), 0x541B, Int(bitPattern: $0)) }  // FIONREAD
        if asked == 0, waiting > 0 { warn("fd \(d.fd): \(waiting) bytes of \(what) events waiting are not saved") }
    }

    /// The process's descriptors of removed files by (device, inode), the
    /// first of each: a watch or mark on such a file is made again through
    /// its holder. None for a descriptor in flight, read through our own
    /// copy (those numbers are ours).
    func removedFilesHeld(for d: OpenDescriptor) -> [[UInt64]: (fd: Int32, link: String)] {
        var removed: [[UInt64]: (fd: Int32, link: String)] = [:]
        for o in descriptors where d.pid != getpid() && o.link.hasSuffix(" (deleted)") && removed[[o.device, o.inode]] == nil {
            removed[[o.device, o.inode]] = (o.fd, o.link)
        }
        return removed
    }
}

/// The restart's per-process view: the stub, the objects the restorer made
/// for the whole image, the courier for handing descriptors over, and the
/// restorer's own stdio parked above the process's highest descriptor.
final class FileRestoreContext {
    let session: RemoteSession
    let process: ProcessState
    let objects: SharedFileObjects
    let courier: FDCourier
    /// cr_restart's 0, 1, 2, as the stub holds them now.
    let stdio: [Int32: UInt64]
    private(set) var warnings: [String] = []
    /// For what is worth saying with -v only (swift-log's info level).
    let log: Logger

    init(session: RemoteSession, process: ProcessState, objects: SharedFileObjects, courier: FDCourier, stdio: [Int32: UInt64], log: Logger) {
        self.log = log
        self.session = session
        self.process = process
        self.objects = objects
        self.courier = courier
        self.stdio = stdio
    }

    func warn(_ message: String) { warnings.append(message) }

    /// Moves a descriptor made in the stub to `f`'s number with its close-on-exec flag.
    /// `closeOnExecNow`: whether `fd` has FD_CLOEXEC already (one received
    /// through the courier does; one just opened does not).
    func install(_ fd: UInt64, as f: FileDescriptorState, closeOnExecNow: Bool = false) throws {
        let target = UInt64(f.fd)
        if fd != target {
            try session.dup3(fd, to: f.fd, cloexec: f.closeOnExec, what: f.path)
            try session.close(fd)
        } else if f.closeOnExec != closeOnExecNow {
            try session.fcntl(target, F_SETFD, f.closeOnExec ? UInt64(FD_CLOEXEC) : 0, what: "F_SETFD")
        }
    }

    /// The restorer's stdio `n` as `f`'s descriptor, or a warning and closed.
    func inheritStdio(_ n: Int32, as f: FileDescriptorState, why: @autoclosure () -> String) throws -> RestoredFile {
        guard let from = stdio[n] else { return .closed(why()) }
        try session.dup3(from, to: f.fd, cloexec: f.closeOnExec, what: "stdio \(n) -> \(f.fd)")
        return .inPlace
    }
}

/// How a kind made a descriptor again.
enum RestoredFile {
    /// Made in the stub under another number: moved to its own.
    case remote(UInt64)
    /// Made by the restorer: handed to the stub, then moved to its number.
    case local(Int32)
    /// Already at its number with its close-on-exec flag.
    case inPlace
    /// Not made; the warning says why.
    case closed(String)
}
