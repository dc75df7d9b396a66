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
        // A log that grew since is what a running job's files do: said with -v.
        // One that shrank lost what the process may read or seek back to: a warning.
        if let (text, grew) = sizeChange(f) {
            if grew { c.log.info("\(text)") } else { c.warn(text) }
        }
        return try PathReopen.open(f, source: f.path, in: c, seek: true)
    }

    /// A file whose size differs from the checkpoint's (restored anyway; BLCR was silent), and whether it grew.
    static func sizeChange(_ f: FileDescriptorState) -> (String, Bool)? {
        var st = stat()
        guard stat(f.path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_size) != f.fileSize else { return nil }
        return ("fd \(f.fd) (\(f.path)) was \(f.fileSize) bytes at the checkpoint and is \(st.st_size) now", UInt64(st.st_size) > f.fileSize)
    }
}
