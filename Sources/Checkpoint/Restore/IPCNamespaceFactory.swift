import CheckpointImage
import Glibc
import LinuxKit

/// The image's IPC namespaces made again, each with its SysV objects. The
/// restorer makes them on its restoring thread (unshare, then back by
/// setns: both change only the calling thread) and makes each one's
/// objects from inside it (`within`); stubs join theirs by setns as they
/// are born, before they attach segments. Where namespaces cannot be made
/// (a user's restart without a user namespace of its own) the processes and
/// objects stay in cr_restart's, with a warning.
final class IPCNamespaceFactory {
    private let joiner = NamespaceJoiner(kind: "ipc", flag: CloneFlags.newIPC)
    private var made: [Int: Int32] = [:]
    private let ours = open("/proc/thread-self/ns/ipc", O_RDONLY | O_CLOEXEC)
    private(set) var warnings: [String] = []

    init?(count: Int) {
        guard count > 0 else { return nil }
        for k in 1...count {
            guard Syscall.raw(NR.unshare, Int(CloneFlags.newIPC)) == 0 else {
                warnings.append("the image's IPC namespaces could not be made here (\(errorText(errno))): its processes and SysV objects are in cr_restart's")
                break
            }
            let fd = open("/proc/thread-self/ns/ipc", O_RDONLY | O_CLOEXEC)
            _ = Syscall.raw(NR.setns, Int(ours), Int(CloneFlags.newIPC))
            guard fd >= 0 else { break }
            made[k] = fd
            // The joiner closes it.
            joiner.adopt(k, fd: fd)
        }
    }

    deinit { if ours >= 0 { close(ours) } }

    /// Runs `body` with this thread in namespace `ns` (0 or one not made: ours).
    func within<T>(_ ns: Int, _ body: () throws -> T) throws -> T {
        guard let fd = made[ns] else { return try body() }
        guard Syscall.raw(NR.setns, Int(fd), Int(CloneFlags.newIPC)) == 0 else {
            throw CheckpointError(errno: errno, "entering IPC namespace \(ns) of the image")
        }
        defer { _ = Syscall.raw(NR.setns, Int(ours), Int(CloneFlags.newIPC)) }
        return try body()
    }

    /// Moves a new stub into its process's namespace; returns where it is now.
    func place(_ p: ProcessState, stub: pid_t, session: RemoteSession, bornIn: Int) throws -> Int {
        let wanted = made[p.ipcNamespace] != nil ? p.ipcNamespace : 0
        return try joiner.enter(wanted, who: p.pid, stub: stub, session: session, bornIn: bornIn)
    }
}
