import CheckpointImage
import Glibc
import LinuxKit

/// The restorer itself makes each saved pipe (capacity set, bytes put back)
/// and keeps both ends open: the first open file of each end is handed over
/// as it is, any other is opened through /proc/<restorer>/fd/N. Every
/// process gets its end of the one pipe, so ends shared across a tree stay
/// connected.
final class PipeFactory {
    private var pipes: [UInt64: (read: Int32, write: Int32)] = [:]
    /// Per pipe, the descriptor record that carries its bytes (from any process of the image).
    private let carriers: [UInt64: FileDescriptorState]
    private let fifoCarriers: [[UInt64]: FileDescriptorState]
    /// Pipes with both a read end and a write end inside the image.
    private let whole: Set<UInt64>

    init(processes: [ProcessState]) {
        var c: [UInt64: FileDescriptorState] = [:], fc: [[UInt64]: FileDescriptorState] = [:]
        var readers: Set<UInt64> = [], writers: Set<UInt64> = []
        for p in processes {
            for f in p.files where f.kind == .fifo && f.pipeData != nil { fc[[f.device, f.inode]] = f }
            for f in p.files where f.kind == .pipe {
                if f.pipeData != nil { c[f.inode] = f }
                if (f.flags & UInt32(O_ACCMODE)) == UInt32(O_WRONLY) { writers.insert(f.inode) } else { readers.insert(f.inode) }
            }
        }
        carriers = c
        fifoCarriers = fc
        // A pipe nobody writes to any more is whole too: the image holds all of it.
        whole = readers.intersection(writers).union(c.values.filter(\.pipeNoWriters).map(\.inode))
    }

    /// A pipe with one end outside the checkpoint is not recreated: its
    /// writer would meet a pipe nobody reads (SIGPIPE), its reader early EOF.
    func leadsOutside(_ f: FileDescriptorState) -> Bool { !whole.contains(f.inode) }

    private var handedOut: Set<[UInt64]> = []

    /// The restorer's own end for the first open file of each end: handed
    /// over as it is, it keeps pipe()'s flags (no O_LARGEFILE, which an open
    /// through /proc adds and F_SETFL cannot take away). Later open files of
    /// the same end are opened through `path(for:)`. Nil once handed out.
    func original(for f: FileDescriptorState) throws -> Int32? {
        let writeEnd = (f.flags & UInt32(O_ACCMODE)) == UInt32(O_WRONLY)
        guard handedOut.insert([f.inode, writeEnd ? 1 : 0]).inserted else { return nil }
        let ends = try ends(of: f.inode)
        let fd = writeEnd ? ends.write : ends.read
        _ = fcntl(fd, F_SETFL, Int32(bitPattern: f.flags) & (O_NONBLOCK | 0o40000))  // and O_DIRECT (packet mode)
        return fd
    }

    /// The /proc path a stub opens for this descriptor's end of its pipe.
    func path(for f: FileDescriptorState) throws -> String {
        let ends = try ends(of: f.inode)
        let writeEnd = (f.flags & UInt32(O_ACCMODE)) == UInt32(O_WRONLY)
        return "/proc/\(getpid())/fd/\(writeEnd ? ends.write : ends.read)"
    }

    private func ends(of inode: UInt64) throws -> (read: Int32, write: Int32) {
        if let e = pipes[inode] { return e }
        var fds: [Int32] = [0, 0]
        _ = try valueOrThrow("pipe") { pipe(&fds) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        pipes[inode] = (fds[0], fds[1])
        if let saved = carriers[inode] {
            if saved.pipeCapacity > 0 { _ = fcntl(fds[1], FcntlCommand.setPipeSize, Int32(clamping: saved.pipeCapacity)) }
            if let data = saved.pipeData, !data.isEmpty {
                try data.withUnsafeBytes { try Sys.writeAll(fds[1], $0, what: "pipe:[\(inode)]") }
            }
            if saved.pipeNoWriters {
                // Its last writer had gone: ours goes too, so the readers see EOF after the bytes.
                Glibc.close(fds[1])
                fds[1] = -1
            }
        }
        pipes[inode] = (fds[0], fds[1])
        return (fds[0], fds[1])
    }

    private var fifos: [[UInt64]: Int32] = [:]

    /// Before a stub opens a named FIFO by path, the restorer holds it open
    /// read-write (which never blocks), refilled with its saved bytes: so no
    /// open of one end waits for the other, and the bytes stay in the pipe
    /// until every process has its ends. A FIFO deleted since the checkpoint
    /// is made again, with a warning.
    /// A FIFO made again: its owner's (a user's FIFO restored by root would
    /// be root's) and its mode exactly (mkfifo's is cut by the umask).
    static func makeFIFO(_ path: String, like record: FIFORecord?) throws {
        let mode = mode_t(record?.mode ?? 0o600) & 0o7777
        _ = try valueOrThrow("mkfifo(\(path))") { mkfifo(path, mode) }
        if let owner = record?.owner, owner.count == 2 {
            // A user's restorer cannot give a file away: it stays that user's.
            _ = chown(path, uid_t(truncatingIfNeeded: owner[0]), gid_t(truncatingIfNeeded: owner[1]))
        }
        _ = chmod(path, mode)
    }

    func holdFIFO(_ f: FileDescriptorState) throws -> String? {
        let key = [f.device, f.inode]
        if fifos[key] != nil { return try linkName(f, to: key) }
        var warning: String?
        var st = stat()
        if f.fifo?.gone == true {
            // Removed while open: made under a free name, held, removed again.
            var name = f.path
            if lstat(name, &st) == 0 { name += ".swiftcr-fifo.\(getpid())" }
            try Self.makeFIFO(name, like: f.fifo)
            defer { unlink(name) }
            try hold(key, path: name)
            return nil
        }
        if lstat(f.path, &st) != 0 {
            try Self.makeFIFO(f.path, like: f.fifo)
            warning = "FIFO \(f.path) no longer existed and was made again"
        } else if st.st_mode & S_IFMT != S_IFIFO {
            throw CheckpointError(ENXIO, "fd \(f.fd): \(f.path) is no longer a FIFO")
        }
        try hold(key, path: f.path)
        heldNames[key] = f.path
        return warning
    }

    /// Names a held FIFO had: another descriptor of it, opened through a
    /// second hard link that is gone now, gets that name back as a link of
    /// the one held (BLCR's linked_fifo: both names lead to one FIFO again).
    private var heldNames: [[UInt64]: String] = [:]

    private func linkName(_ f: FileDescriptorState, to key: [UInt64]) throws -> String? {
        var st = stat()
        guard f.fifo?.gone != true, lstat(f.path, &st) != 0, let held = heldNames[key] else { return nil }
        _ = try valueOrThrow("link(\(held), \(f.path))") { link(held, f.path) }
        return "FIFO \(f.path) no longer existed and was made again as a link of \(held)"
    }

    /// The restorer's descriptor of a held FIFO, to open it through.
    func heldPath(_ f: FileDescriptorState) throws -> String {
        guard let fd = fifos[[f.device, f.inode]] else { throw CheckpointError(EBADF, "fd \(f.fd): FIFO \(f.path) is not held") }
        return "/proc/\(getpid())/fd/\(fd)"
    }

    /// Opens the FIFO read-write (never blocks) and puts its saved bytes back.
    private func hold(_ key: [UInt64], path: String) throws {
        let fd = try valueOrThrow("open(\(path))") { open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC) }
        fifos[key] = fd
        if let saved = fifoCarriers[key] {
            if saved.pipeCapacity > 0 { _ = fcntl(fd, FcntlCommand.setPipeSize, Int32(clamping: saved.pipeCapacity)) }
            if let data = saved.pipeData, !data.isEmpty {
                try data.withUnsafeBytes { try Sys.writeAll(fd, $0, what: path) }
            }
        }
    }

    func close() {
        for e in pipes.values { Glibc.close(e.read); if e.write >= 0 { Glibc.close(e.write) } }
        for fd in fifos.values { Glibc.close(fd) }
        pipes.removeAll()
        fifos.removeAll()
    }
}
