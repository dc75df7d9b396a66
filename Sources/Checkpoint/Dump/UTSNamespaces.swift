import CheckpointImage
import Glibc
import LinuxKit

/// Processes in UTS namespaces other than the checkpointer's (`unshare -u`,
/// containers): each namespace's host and domain names, read from inside it.
enum UTSNamespaces {
    static func collect(_ pids: [pid_t]) -> ForeignNamespaces<UTSNamespaceState> {
        ForeignNamespaces(pids, kind: "uts", name: "a UTS") { pid in
            var names: [String] = []
            for file in ["hostname", "domainname"] {
                switch InsideNamespace.read("/proc/sys/kernel/\(file)", of: pid, namespace: "uts", flag: CloneFlags.newUTS) {
                case .success(let bytes): names.append(String(decoding: bytes.prefix { $0 != 10 }, as: UTF8.self))
                case .failure(let e): return .failure(NamespaceUnreadable(entering: e))
                }
            }
            return .success(UTSNamespaceState(hostname: names[0], domainname: names[1]))
        }
    }
}
