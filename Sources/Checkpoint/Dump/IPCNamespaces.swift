import CheckpointImage
import Glibc
import LinuxKit
import SystemPackage

/// SysV IPC objects live in an IPC namespace: those of processes in one
/// other than the checkpointer's (`unshare -i`, containers) are found and
/// read from inside it. The collecting thread enters the namespace (setns
/// changes only the calling thread's; root) and comes back after. Where it
/// cannot (a user), a namespace whose processes attach no segment is saved
/// empty with a warning; one with attached segments is refused, since the
/// restart could not attach them.
struct IPCNamespaces {
    var objects: [SysVObject] = []
    var index: [pid_t: Int] = [:]
    var count = 0
    var warnings: [String] = []

    static func collect(_ processes: [ProcessState]) throws -> IPCNamespaces {
        let found = ForeignNamespaces<pid_t>(processes.map(\.pid), kind: "ipc", name: "an IPC") { .success($0) }
        var result = IPCNamespaces(index: found.index, count: found.namespaces.count, warnings: found.warnings)
        for ns in 0...found.namespaces.count {
            let members = processes.filter { (found.index[$0.pid] ?? 0) == ns }
            guard let first = members.first else { continue }
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
}
