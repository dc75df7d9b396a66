import CheckpointImage
import Glibc
import LinuxKit

/// A regular file unlinked while open: its data extents are in the image
/// (holes stay holes), and it comes back open, still unlinked, at its offset.
/// One that still has another name (a hard link) is the very file again
/// where the restorer may open it by its handle, or by that name when it
/// is in the same directory.
enum UnlinkedFiles: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.unlinked]

    static func claims(_ d: OpenDescriptor) -> Bool {
        // What counts is the data (blocks in use), not the size: holes are not saved.
        d.mode == S_IFREG && d.deleted && off_t(d.st.st_blocks) * 512 <= PathReopen.contentsLimit
    }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .unlinked
        var record = UnlinkedFileRecord(mode: UInt64(d.st.st_mode & 0o7777), uid: UInt64(d.st.st_uid), gid: UInt64(d.st.st_gid))
        record.accessTime = Int64(d.st.st_atim.tv_sec) &* 1_000_000_000 &+ Int64(d.st.st_atim.tv_nsec)
        record.modificationTime = Int64(d.st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(d.st.st_mtim.tv_nsec)
        if d.st.st_nlink > 0 {
            if let h = KernelFileHandle.of(path: d.procPath) { (record.handleType, record.handle) = (Int64(h.type), h.bytes) }
            record.livePath = LiveLink.find(deleted: String(d.link.dropLast(" (deleted)".count)), device: d.device, inode: d.inode,
                                            root: "/proc/\(d.pid)/root")
        }
        if context.shared.contents.first(device: d.device, inode: d.inode) {
            let (extents, bytes) = try PathReopen.extents(of: d.procPath, size: Int(d.st.st_size))
            (record.size, record.extents) = (UInt64(d.st.st_size), extents)
            state.fileContents = bytes
        }
        state.payload = .unlinked(record)
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        // The factory placed it on its mount (of whichever namespace): the stub opens our descriptor.
        var own = f
        own.mountNamespace = nil
        return try PathReopen.open(own, source: try c.objects.unlinked.path(for: f, processNamespace: c.process.mountNamespace), in: c, seek: true)
    }
}
