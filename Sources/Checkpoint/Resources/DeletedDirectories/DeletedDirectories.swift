import CheckpointImage
import Glibc
import LinuxKit

/// A directory removed while a descriptor held it open (a build tree
/// cleaned under a running tool). What the descriptor can still do is
/// fstat it and see a removed, empty directory: so the restorer makes a
/// directory (under the old name if that is free, else under /tmp), the
/// stub opens it, and the restorer removes it again.
enum DeletedDirectories: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.deletedDirectory]

    static func claims(_ d: OpenDescriptor) -> Bool { d.mode == S_IFDIR && d.link.hasPrefix("/") && d.deleted }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .deletedDirectory
        state.payload = .unlinked(UnlinkedFileRecord(mode: UInt64(d.st.st_mode & 0o7777), uid: UInt64(d.st.st_uid), gid: UInt64(d.st.st_gid)))
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        let original = String(f.path.dropLast(" (deleted)".count))
        let attributes = f.unlinked.map { [$0.mode, $0.uid, $0.gid] } ?? []
        guard let made = StandInDirectory.make(at: original, attributes: attributes) else {
            throw CheckpointError(errno: errno, "fd \(f.fd): cannot make a directory to stand for \(original)")
        }
        defer { StandInDirectory.remove(made, attributes) }
        return try PathReopen.open(f, source: made, in: c)
    }
}
