import CheckpointImage
import Glibc

/// A regular file or directory, reopened by path at its offset.
enum RegularFiles: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.regular]

    static func claims(_ d: OpenDescriptor) -> Bool {
        (d.mode == S_IFREG || d.mode == S_IFDIR) && d.link.hasPrefix("/") && !d.deleted
    }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .regular
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        if let w = sizeChange(f) { c.warn(w) }
        return try PathReopen.open(f, source: f.path, in: c, seek: true)
    }

    /// A file whose size differs from the checkpoint's: restored anyway, with a warning (BLCR was silent).
    static func sizeChange(_ f: FileDescriptorState) -> String? {
        var st = stat()
        guard stat(f.path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_size) != f.fileSize else { return nil }
        return "fd \(f.fd) (\(f.path)) was \(f.fileSize) bytes at the checkpoint and is \(st.st_size) now"
    }
}
