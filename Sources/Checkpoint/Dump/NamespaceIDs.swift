import CheckpointImage
import Glibc
import LinuxKit

/// A tree whose root is PID 1 of a PID namespace of its own (a container's
/// init, zdtm's ns flavor): its orphans reparent to that init, and its
/// processes know each other by the IDs they have in there. The image keeps
/// both IDs of every process, thread, group and session (TreeState.namespaceIDs);
/// the restart makes a new namespace and hands out the inner ones.
enum NamespaceIDs {
    /// Empty when the root is not a namespace's init as seen from here.
    /// Throws for a process of the tree in another PID namespace than the
    /// root's (a nested one, or one that joined from outside): one namespace is all a restart makes.
    static func collect(root: pid_t, processes: [ProcessState], zombies: [ZombieState]) throws -> [Int32: Int32] {
        guard let rootStatus = try? ProcStatus.read(pid: root) else { return [:] }
        let rootLevels = levels(rootStatus, "NSpid")
        guard rootLevels.count >= 2, rootLevels.last == 1 else { return [:] }
        let namespace = try? Sys.readLink("/proc/\(root)/ns/pid")
        var ids: [Int32: Int32] = [:]
        func add(_ outer: pid_t, _ inner: Int32?) {
            if let inner, inner > 0 { ids[outer] = inner }
        }
        for p in processes {
            let status = try ProcStatus.read(pid: p.pid)
            let own = levels(status, "NSpid")
            guard own.count == rootLevels.count, p.pid == root || (try? Sys.readLink("/proc/\(p.pid)/ns/pid")) == namespace else {
                throw CheckpointError(EINVAL, "process \(p.pid) is in another PID namespace than \(root), the init of the tree's: a checkpoint of a PID namespace holds one namespace only")
            }
            add(p.pid, own.last)
            // A group or session led from outside the namespace reads 0 there: none to give.
            add(p.pgid, levels(status, "NSpgid").last)
            add(p.sid, levels(status, "NSsid").last)
            for t in p.threads where t.tid != p.pid {
                add(t.tid, levels(try ProcStatus.read(pid: t.tid), "NSpid").last)
            }
        }
        for z in zombies where !z.checkpointer {
            guard let status = try? ProcStatus.read(pid: z.pid) else { continue }
            add(z.pid, levels(status, "NSpid").last)
            add(z.pgid, levels(status, "NSpgid").last)
            add(z.sid, levels(status, "NSsid").last)
        }
        return ids
    }

    /// One ID per PID namespace level, outermost (as seen from here) first.
    static func levels(_ status: ProcStatus, _ key: String) -> [Int32] {
        (status.fields[key] ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int32($0) }
    }
}
