import CheckpointImage
import Glibc
import LinuxKit

/// A memfd: one shared memory object with its mappings (SharedMemoryFactory
/// makes it once), its seals put back last.
enum MemFDs: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.memfd]

    static func claims(_ d: OpenDescriptor) -> Bool { d.mode == S_IFREG && d.link.hasPrefix("/memfd:") }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .memfd
        state.payload = .memfd(MemFDRecord(seals: UInt64(seals(of: d.procPath)), size: UInt64(d.st.st_size), mode: UInt64(d.st.st_mode & 0o7777),
                                           hugePageSize: hugePageSize(d.st)))
        if d.st.st_size > PathReopen.contentsLimit {
            context.warn("fd \(d.fd) (\(d.link)): memfd of \(d.st.st_size) bytes; only pages mapped somewhere are saved")
        } else if context.shared.contents.first(device: d.device, inode: d.inode) {
            state.fileContents = try PathReopen.contents(of: d.procPath, size: Int(d.st.st_size))
        }
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        if let ours = try c.objects.memory.original(for: f) { return .local(ours) }
        return try PathReopen.open(f, source: try c.objects.memory.path(for: f), in: c, seek: true)
    }

    /// The huge page size of a memfd made with MFD_HUGETLB: a memfd lives on
    /// shmem (4 KiB blocks) or hugetlbfs, whose block is the huge page. Else 0.
    static func hugePageSize(_ st: stat) -> UInt64 {
        st.st_blksize > 4096 ? UInt64(st.st_blksize) : 0
    }

    /// F_GET_SEALS through a fresh open of the memfd (seals belong to the inode).
    static func seals(of path: String) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        return max(fcntl(fd, FcntlCommand.getSeals), 0)
    }
}
