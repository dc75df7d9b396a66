import CheckpointImage
import Glibc
import LinuxKit

/// The objects the restorer makes once and every stub opens or receives:
/// pipes, unlinked files, sockets and (made earlier, for mappings) shared memory.
struct SharedFileObjects {
    let pipes: PipeFactory
    let unlinked: UnlinkedFileFactory
    let sockets: SocketFactory
    let memory: SharedMemoryFactory
    /// Made before the stubs (a session leader takes its terminal before it forks).
    let ptys: PtyFactory

    /// Image PID -> stub (as we see it), for borrowing a restored process's descriptors.
    let stubs: [pid_t: pid_t]
    /// Image PID -> the PID the restored processes know it by (F_SETOWN), when that differs (a PID namespace).
    var innerIDs: [pid_t: pid_t] = [:]
    /// cr_restart's own descriptors from 3 up, as it was started with them.
    let inherited: Set<Int32>
    /// What a regular file that is gone becomes (cr_restart --missing-files).
    var missingFiles = RestoreOptions.MissingFiles.fail
    /// The image's mount namespaces as made (nil: none besides ours): where
    /// each one's paths are reached from here.
    var mountNamespaces: MountNamespaceFactory?
    /// The restored network namespaces: a socket of one other than its process's is made inside it.
    var netNamespaces: RestorerMadeNamespaces?

    /// Runs `body` with the restoring thread in network namespace `k` (0: cr_restart's), then back.
    func inNetNamespace<T>(_ k: Int, _ body: () throws -> T) throws -> T {
        try netNamespaces.map { try $0.within(k, body) } ?? body()
    }
    func mountRoot(of k: Int) -> String? { k == 0 ? "" : mountNamespaces?.root(of: k) }
    private let borrowed = Borrowed()

    final class Borrowed {
        var pidfds: [pid_t: Int32] = [:]
        var fds: [Int32] = []
        /// Per original pidfd inode, a child of ours that exits at once, reaped in `settle`.
        var gone: [UInt64: pid_t] = [:]
        /// Image PID -> its descriptors whose file could not be made again (closed, with a warning).
        var closed: [pid_t: Set<Int32>] = [:]
    }

    /// Descriptor `fd` of process `pid` (image PIDs) came back closed: sharers of its file close too.
    func noteClosed(pid: pid_t, fd: Int32) { borrowed.closed[pid, default: []].insert(fd) }
    func isClosed(pid: pid_t, fd: Int32) -> Bool { borrowed.closed[pid]?.contains(fd) == true }

    /// `unlinked`: the factory the mappings already took unlinked files from, if any.
    init(processes: [ProcessState], memory: SharedMemoryFactory, ptys: PtyFactory, stubs: [pid_t: pid_t], closeTCP: Bool, inherited: Set<Int32> = [],
         unlinked: UnlinkedFileFactory? = nil) {
        self.inherited = inherited
        self.memory = memory
        self.ptys = ptys
        self.stubs = stubs
        pipes = PipeFactory(processes: processes)
        self.unlinked = unlinked ?? UnlinkedFileFactory(processes: processes)
        sockets = SocketFactory(processes: processes, closeTCP: closeTCP)
    }

    /// Our copy (pidfd_getfd) of descriptor `fd` of an already restored
    /// process: the very open file, to hand to a process that shares it.
    func borrow(pid: pid_t, fd: Int32) throws -> Int32 {
        guard let stub = stubs[pid] else { throw CheckpointError(EINVAL, "an fd refers to process \(pid), which the image does not hold") }
        let pidfd: Int32
        if let p = borrowed.pidfds[stub] { pidfd = p } else {
            pidfd = Int32(try rawSyscall("pidfd_open(\(stub))", NR.pidfd_open, Int(stub), 0))
            borrowed.pidfds[stub] = pidfd
        }
        let ours = Int32(try rawSyscall("pidfd_getfd(\(stub), \(fd))", NR.pidfd_getfd, Int(pidfd), Int(fd), 0))
        borrowed.fds.append(ours)
        return ours
    }

    /// A process that has exited (a zombie of ours until `settle`) for the
    /// pidfds of one gone process: they share its inode, as before.
    func goneProcess(for inode: UInt64) -> pid_t? {
        if let pid = borrowed.gone[inode] { return pid }
        guard case .success(let pid) = RawChild.spawn({ Syscall.exitGroup(0) }) else { return nil }
        borrowed.gone[inode] = pid
        return pid
    }

    /// Every descriptor is in place: rebuilt connections resume, and the
    /// processes behind pidfds of gone ones are reaped (so they read as gone),
    /// and queues with descriptors in flight are filled.
    func settle() throws -> [String] {
        reapGone()
        return try sockets.settle()
    }

    private func reapGone() {
        for pid in borrowed.gone.values {
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        borrowed.gone = [:]
    }

    /// A descriptor of ours handed to a stub, closed when the restart is done.
    func closeLater(_ fd: Int32) { borrowed.fds.append(fd) }

    func close() {
        // A restart given up closes its rebuilt connections still in repair
        // mode (silently, the peer never learns); only our children are reaped.
        reapGone()
        for fd in borrowed.fds + Array(borrowed.pidfds.values) { Glibc.close(fd) }
        borrowed.fds = []
        borrowed.pidfds = [:]
        pipes.close()
        unlinked.close()
        sockets.close()
    }
}
