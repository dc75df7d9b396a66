import CheckpointImage
import Glibc
import LinuxKit
import SystemPackage

/// SysV IPC objects live in an IPC namespace: those of processes in one
/// other than the checkpointer's (`unshare -i`, containers) are found and
/// read from inside it, with the namespace's limits and next IDs that
/// differ from a new one's (a child inside it reads /proc/sys). The collecting thread enters the namespace (setns
/// changes only the calling thread's; root) and comes back after. Where it
/// cannot (a user), a namespace whose processes attach no segment is saved
/// empty with a warning; one with attached segments is refused, since the
/// restart could not attach them.
struct IPCNamespaces {
    var objects: [SysVObject] = []
    var index: [pid_t: Int] = [:]
    var count = 0
    var warnings: [String] = []
    /// Each namespace's settings that differ from a new one's.
    var settings: [IPCNamespaceSettings] = []

    static func collect(_ processes: [ProcessState]) throws -> IPCNamespaces {
        let found = ForeignNamespaces<pid_t>(processes.map(\.pid), kind: "ipc", name: "an IPC") { .success($0) }
        var result = IPCNamespaces(index: found.index, count: found.namespaces.count, warnings: found.warnings)
        var defaults: [String?]?
        for ns in 0...found.namespaces.count {
            let members = processes.filter { (found.index[$0.pid] ?? 0) == ns }
            guard let first = members.first else { continue }
            if ns > 0 { result.settings += changedSettings(of: first.pid, namespace: ns, defaults: &defaults) }
            let segments = Set(members.flatMap { $0.mappings.filter { $0.kind == .sysvShm }.map { Int32(truncatingIfNeeded: $0.inode) } })
            let collector = SysVCollector(pids: Set(members.map(\.pid)), segmentIDs: segments)
            let collected: (objects: [SysVObject], warnings: [String])
            if ns == 0 {
                collected = try collector.collect()
            } else {
                switch try ThreadNamespace.inside(first.pid, kind: "ipc", flag: CloneFlags.newIPC, { try collector.collect() }) {
                case .success(let c): collected = c
                case .failure(let e):
                    if !segments.isEmpty {
                        throw CheckpointError(e.rawValue, "process \(first.pid) attaches SysV shared memory of an IPC namespace other than the checkpointer's, which cannot be entered to read it (\(errorText(e.rawValue))); root can")
                    }
                    result.warnings.append("process \(first.pid) is in an IPC namespace other than the checkpointer's, which cannot be entered (\(errorText(e.rawValue))): its semaphore sets and message queues are not saved")
                    continue
                }
            }
            result.objects += collected.objects.map { var o = $0; o.namespace = ns; return o }
            result.warnings += collected.warnings
        }
        return result
    }

    /// The namespace's limits and next IDs that differ from a new namespace's (read once, into `defaults`).
    static func changedSettings(of pid: pid_t, namespace: Int, defaults: inout [String?]?) -> [IPCNamespaceSettings] {
        let paths = IPCNamespaceSettings.limits + IPCNamespaceSettings.nextIDs
        if defaults == nil { defaults = NamespaceSettings.ipc.read(paths, of: nil) }
        let fresh = defaults ?? []
        let values = NamespaceSettings.ipc.read(paths, of: pid)
        let changed = paths.indices.compactMap { k -> (path: String, value: String)? in
            guard let value = values[k], k < fresh.count, fresh[k] != value else { return nil }
            return (paths[k], value)
        }
        return changed.isEmpty ? [] : [IPCNamespaceSettings(namespace: namespace, values: changed)]
    }
}
