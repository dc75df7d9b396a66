import CheckpointImage
import Glibc
import LinuxKit

/// The restorer itself makes each saved pipe (capacity set, bytes put back)
/// and keeps both ends open while the stubs open theirs through
/// /proc/<restorer>/fd/N: every process gets its own end of the one pipe, so
/// ends shared across a tree stay connected.
final class PipeFactory {
    private var pipes: [UInt64: (read: Int32, write: Int32)] = [:]
    /// Per pipe, the descriptor record that carries its bytes (from any process of the image).
    private let carriers: [UInt64: FileDescriptorState]
    /// Pipes with both a read end and a write end inside the image.
    private let whole: Set<UInt64>

    init(processes: [ProcessState]) {
        var c: [UInt64: FileDescriptorState] = [:]
        var readers: Set<UInt64> = [], writers: Set<UInt64> = []
        for p in processes {
            for f in p.files where f.kind == .pipe {
                if f.pipeData != nil { c[f.inode] = f }
                if (f.flags & UInt32(O_ACCMODE)) == UInt32(O_WRONLY) { writers.insert(f.inode) } else { readers.insert(f.inode) }
            }
        }
        carriers = c
        whole = readers.intersection(writers)
    }

    /// A pipe with one end outside the checkpoint is not recreated: its
    /// writer would meet a pipe nobody reads (SIGPIPE), its reader early EOF.
    func leadsOutside(_ f: FileDescriptorState) -> Bool { !whole.contains(f.inode) }

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
            if saved.pipeCapacity > 0 { _ = fcntl(fds[1], 1031, Int32(clamping: saved.pipeCapacity)) }  // F_SETPIPE_SZ
            if let data = saved.pipeData, !data.isEmpty {
                try data.withUnsafeBytes { try Sys.writeAll(fds[1], $0, what: "pipe:[\(inode)]") }
            }
        }
        return (fds[0], fds[1])
    }

    func close() {
        for e in pipes.values { Glibc.close(e.read); Glibc.close(e.write) }
        pipes.removeAll()
    }
}
