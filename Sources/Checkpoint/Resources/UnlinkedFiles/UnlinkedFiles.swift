import CheckpointImage
import Glibc

/// A regular file unlinked while open: its contents are in the image, and
/// it comes back open, still unlinked, at its offset.
enum UnlinkedFiles: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.unlinked]

    static func claims(_ d: OpenDescriptor) -> Bool {
        d.mode == S_IFREG && d.deleted && d.st.st_size <= PathReopen.contentsLimit
    }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .unlinked
        state.payload = .unlinked(UnlinkedFileRecord(mode: UInt64(d.st.st_mode & 0o7777), uid: UInt64(d.st.st_uid), gid: UInt64(d.st.st_gid)))
        if context.shared.contents.first(device: d.device, inode: d.inode) {
            state.fileContents = try PathReopen.contents(of: d.procPath, size: Int(d.st.st_size))
        }
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        try PathReopen.open(f, source: try c.objects.unlinked.path(for: f), in: c, seek: true)
    }
}
