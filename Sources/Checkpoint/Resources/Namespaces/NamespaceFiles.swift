import CheckpointImage
import Glibc
import LinuxKit

/// Descriptors of namespaces (open("/proc/self/ns/net")...). The holder's
/// own namespace is opened again from its restored self; another cannot
/// be found again and is closed, with a warning.
enum NamespaceFiles: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.namespace]
    static let types: Set<String> = ["net", "mnt", "pid", "uts", "ipc", "user", "cgroup", "time"]

    /// "net:[4026531840]" -> "net".
    static func type(of link: String) -> String? {
        guard link.hasSuffix("]"), let colon = link.firstIndex(of: ":"), link[link.index(after: colon)...].hasPrefix("[") else { return nil }
        let type = String(link[..<colon])
        return types.contains(type) ? type : nil
    }

    static func claims(_ d: OpenDescriptor) -> Bool { type(of: d.link) != nil }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        guard let type = type(of: d.link) else { return }
        state.kind = .namespace
        // The holder's own namespace is the one a restart can find again.
        var holder: Int64 = 0
        var st = stat()
        if stat("/proc/\(context.pid)/ns/\(type)", &st) == 0 && st.st_ino == d.st.st_ino && st.st_dev == d.st.st_dev {
            holder = Int64(context.pid)
        }
        if holder == 0 { context.warn("fd \(d.fd) (\(d.link)): a namespace no process of the checkpoint is in; it will be closed after restart") }
        state.payload = .namespace(NamespaceRecord(type: type, holder: holder))
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard let r = f.namespace, r.holder > 0 else { return .closed("fd \(f.fd) (\(f.path)): a namespace no process of the checkpoint was in; closed") }
        guard let stub = c.objects.stubs[pid_t(r.holder)] else {
            return .closed("fd \(f.fd) (\(f.path)): process \(r.holder), whose namespace it was, is not in the image; closed")
        }
        let fd = open("/proc/\(stub)/ns/\(r.type)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .closed("fd \(f.fd) (\(f.path)): cannot open the \(r.type) namespace again: \(errorText(errno))") }
        c.objects.closeLater(fd)
        return .local(fd)
    }
}
