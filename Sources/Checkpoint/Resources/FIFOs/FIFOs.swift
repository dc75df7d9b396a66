import CheckpointImage
import Glibc

/// A named FIFO, reopened by path. Like a pipe, its first descriptor in the
/// image carries its bytes and capacity; the restorer holds it open while
/// the stubs open theirs, so no open waits for the other end. One removed
/// while open is made again, held, and removed at once.
enum FIFOs: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.fifo]

    static func claims(_ d: OpenDescriptor) -> Bool { d.mode == S_IFIFO && d.link.hasPrefix("/") }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .fifo
        if d.deleted { state.path = String(d.link.dropLast(" (deleted)".count)) }
        state.payload = .fifo(FIFORecord(mode: UInt64(d.st.st_mode & 0o7777), gone: d.deleted, owner: [UInt64(d.st.st_uid), UInt64(d.st.st_gid)]))
        try context.shared.pipes.save(d, into: &state)
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        if let w = try c.objects.pipes.holdFIFO(f) { c.warn(w) }
        // A removed FIFO has no path: opened through the restorer's descriptor.
        return try PathReopen.open(f, source: f.fifo?.gone == true ? try c.objects.pipes.heldPath(f) : f.path, in: c)
    }
}
