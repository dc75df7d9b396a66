import CheckpointImage
import Glibc

/// One end of an anonymous pipe. The restorer makes each pipe once and the
/// stubs open their ends through /proc/<restorer>/fd; a pipe with an end
/// outside the checkpoint becomes cr_restart's descriptor of that number, or
/// its stdin or stdout, as in BLCR.
enum Pipes: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.pipe]

    static func claims(_ d: OpenDescriptor) -> Bool { d.mode == S_IFIFO && d.link.hasPrefix("pipe:[") }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .pipe
        if d.fd <= 2 { state.inheritFrom = d.fd }  // the restarter's fd of that number, if the pipe leads outside
        try context.shared.pipes.save(d, into: &state)
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard c.objects.pipes.leadsOutside(f) else {
            if let ours = try c.objects.pipes.original(for: f) { return .local(ours) }
            return try PathReopen.open(f, source: try c.objects.pipes.path(for: f), in: c)
        }
        // BLCR's rule: cr_restart's own descriptor of that number if it has
        // one (fds 0-2 always; from 3 up, those it was started with), else its
        // stdin (read end) or stdout (write end).
        if f.fd >= 3 && c.objects.inherited.contains(f.fd) { return .local(f.fd) }
        let end: Int32 = (0...2).contains(f.inheritFrom) ? f.inheritFrom : (f.flags & UInt32(O_ACCMODE)) == UInt32(O_WRONLY) ? 1 : 0
        return try c.inheritStdio(end, as: f, why: "fd \(f.fd) (\(f.path)) leads outside the checkpoint, and this restart has no fd \(end) to give it: closed")
    }
}
