import CheckpointImage
import Glibc
import LinuxKit

/// A tree whose root is PID 1 of a PID namespace of its own (a container's
/// init, zdtm's ns flavor): its orphans reparent to that init, and its
/// processes know each other by the IDs they have in there. The image keeps
/// both IDs of every process, thread, group and session (TreeState.namespaceIDs);
/// the restart makes a new namespace and hands out the inner ones.
enum NamespaceIDs {
    /// Empty when the root is not a namespace's init as seen from here (and
    /// then throws for a process in a PID namespace below the root's).
    /// Throws for a process of the tree in another PID namespace than the
    /// root's (a nested one, or one that joined from outside): one namespace is all a restart makes.
    static func collect(root: pid_t, processes: [ProcessState], zombies: [ZombieState]) throws -> [Int32: Int32] {
        guard let rootStatus = try? ProcStatus.read(pid: root) else { return [:] }
        let rootLevels = levels(rootStatus, "NSpid")
        guard rootLevels.count >= 2, rootLevels.last == 1 else {
            try refuseNested(below: root, depth: rootLevels.count, processes.map(\.pid) + zombies.filter { !$0.checkpointer }.map(\.pid))
            return [:]
        }
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

    /// A root that is no namespace's init, with processes in a PID namespace
    /// below its own (`unshare --pid --fork`, bwrap, a container's init forked
    /// by its runtime): a restart would make them in the root's namespace,
    /// where they would have other PIDs than the ones they know (and their
    /// kill(1, ...) would reach another init). Refused, naming the init whose
    /// --tree checkpoint saves that namespace whole.
    static func refuseNested(below root: pid_t, depth: Int, _ pids: [pid_t]) throws {
        guard depth > 0 else { return }
        let nested = pids.compactMap { pid -> (pid: pid_t, levels: [Int32])? in
            guard let status = try? ProcStatus.read(pid: pid) else { return nil }
            let own = levels(status, "NSpid")
            return own.count > depth ? (pid, own) : nil
        }
        guard let first = nested.first else { return }
        let advice = nested.first { $0.levels.count == depth + 1 && $0.levels[depth] == 1 }
            .map { "checkpoint that namespace's init, process \($0.pid), with --tree to save the namespace whole" }
            ?? "its init is not in the tree"
        throw CheckpointError(EINVAL, "process \(first.pid) is in a PID namespace below the one of \(root), the tree's root (its PID there is \(first.levels[depth])): a restart would give it another PID than the one it knows; \(advice)")
    }

    /// One ID per PID namespace level, outermost (as seen from here) first.
    static func levels(_ status: ProcStatus, _ key: String) -> [Int32] {
        (status.fields[key] ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int32($0) }
    }
}
