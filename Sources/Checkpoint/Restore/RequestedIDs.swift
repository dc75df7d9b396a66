import CheckpointImage
import Glibc

/// The ID a restored process, thread, group or session asks for (set_tid),
/// given the ID the image knows it by: the same one, the one it had inside
/// its own PID namespace (an image of a whole namespace), or none at all
/// (--no-restore-pid: the kernel picks).
struct RequestedIDs {
    let exact: Bool
    /// Image ID -> ID inside the namespace (TreeState.namespaceIDs); empty outside one.
    let namespace: [pid_t: pid_t]

    init(exact: Bool, namespace: [pid_t: pid_t] = [:]) {
        self.exact = exact
        self.namespace = namespace
    }

    var ownNamespace: Bool { !namespace.isEmpty }

    /// nil: let the kernel choose (not exact, or, in a namespace, an ID from outside it).
    func callAsFunction(_ id: pid_t) -> pid_t? {
        guard exact else { return nil }
        return ownNamespace ? namespace[id] : id
    }
}
