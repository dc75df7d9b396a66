import CheckpointImage
import Glibc
import LinuxKit

/// The processes a checkpoint covers, parents before children, and the
/// unreaped zombies among their children.
struct TreeScope {
    var live: [pid_t]
    var zombies: [ZombieState]
    /// Processes outside the scope in a group or session that one inside
    /// leads: they keep that PID taken, so a restart with the original PIDs
    /// cannot make its leader again while they run (said as a warning).
    var outsiders: [String] = []

    static func resolve(_ id: pid_t, _ scope: CheckpointOptions.Scope) throws -> TreeScope {
        var stats: [pid_t: ProcStat] = [:]
        // A single process needs only its own entry, a tree its processes'
        // (found through their children files) unless one of them leads a
        // group or session (the outsiders' warning then needs everyone's);
        // the other scopes need everyone's.
        var everyone = scope != .process && scope != .tree
        if scope == .tree, let found = descendants(of: id) {
            for p in found { if let st = try? ProcStat.read(pid: p) { stats[p] = st } }
            everyone = stats.values.contains { $0.pgrp == $0.pid || $0.session == $0.pid }
        } else if scope == .tree {
            everyone = true
        }
        for p in everyone ? ((try? Sys.numericEntries("/proc")) ?? []) : (stats.isEmpty ? [id] : []) where stats[p] == nil {
            if let st = try? ProcStat.read(pid: p) { stats[p] = st }
        }
        var members: [pid_t]
        switch scope {
        case .process:
            members = [id]
        case .tree:
            members = [id]
            var i = 0
            while i < members.count {
                let parent = members[i]
                // The checkpointer may be a child of its target (a libcr self-request): it stays out.
                members += stats.values.filter { $0.ppid == parent && $0.pid != getpid() }.map(\.pid).sorted()
                i += 1
            }
        case .group:
            members = stats.values.filter { $0.pgrp == id }.map(\.pid)
        case .session:
            members = stats.values.filter { $0.session == id }.map(\.pid)
        }
        guard !members.isEmpty else {
            throw CheckpointError(ESRCH, "no process in \(scope == .group ? "process group" : "session") \(id)")
        }
        if scope != .tree { members.removeAll { $0 == getpid() && $0 != id } }
        if members.contains(getpid()) {
            throw CheckpointError(EDEADLK, "the checkpointer (pid \(getpid())) is inside the scope it was asked to checkpoint")
        }
        let set = Set(members)
        var live: [pid_t] = []
        var zombies: [ZombieState] = []
        for p in members {
            guard let st = stats[p] else { continue }  // exited meanwhile
            if (st.state == "Z" || st.state == "X") && st.threads > 1 {
                throw TargetCheck.leaderGone(p)
            }
            if st.state == "Z" || st.state == "X" {
                guard p != id || scope != .tree && scope != .process else {
                    throw CheckpointError(ESRCH, "process \(id) has already exited (zombie)")
                }
                if set.contains(st.ppid) {
                    zombies.append(ZombieState(pid: p, ppid: st.ppid, pgid: st.pgrp, sid: st.session, waitStatus: st.exitCode))
                }
            } else {
                live.append(p)
            }
        }
        var scope = TreeScope(live: orderParentsFirst(live, stats: stats), zombies: zombies)
        scope.outsiders = outsiders(of: set, stats: stats)
        return scope
    }

    /// `id` and every process below it, through each thread's
    /// /proc/PID/task/TID/children (zombies included: they are children
    /// until reaped); nil where the kernel has no such files.
    static func descendants(of id: pid_t) -> [pid_t]? {
        var found = [id]
        var seen: Set<pid_t> = [id]
        var i = 0
        while i < found.count {
            let p = found[i]
            i += 1
            guard let tids = try? Sys.numericEntries("/proc/\(p)/task") else { continue }
            for t in tids {
                guard let text = try? Sys.readText("/proc/\(p)/task/\(t)/children") else {
                    if access("/proc/\(p)/task/\(t)", F_OK) == 0 && access("/proc/\(p)/task/\(t)/children", F_OK) != 0 { return nil }
                    continue
                }
                for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
                    if let c = pid_t(word), seen.insert(c).inserted { found.append(c) }
                }
            }
        }
        return found
    }

    /// One line for the processes outside `members` whose group or session
    /// is led by a member (an orphan of the tree, reparented elsewhere).
    static func outsiders(of members: Set<pid_t>, stats: [pid_t: ProcStat]) -> [String] {
        var held: [(pid: pid_t, leader: pid_t)] = []
        for st in stats.values where !members.contains(st.pid) && st.pid != getpid() && st.state != "Z" && st.state != "X" {
            if members.contains(st.pgrp) { held.append((st.pid, st.pgrp)) } else if members.contains(st.session) { held.append((st.pid, st.session)) }
        }
        guard let first = held.min(by: { $0.pid < $1.pid }) else { return [] }
        let more = held.count > 1 ? " (and \(held.count - 1) more)" : ""
        return ["process \(first.pid)\(more), outside the checkpoint, is in the process group or session of \(first.leader): while it runs, PID \(first.leader) stays taken and a restart with the original PIDs cannot make that process again (--no-restore-pid can)"]
    }

    /// Parents before their children (a process whose parent is outside
    /// comes first), and, where that allows, a process after the leaders of
    /// its session and group: an orphan that an init inherited is made again
    /// through its session's leader (StubTree.orphanSession), which must exist by then.
    /// So too a session leader after the leader of the earlier session a
    /// child of it was forked in (the restart makes such a leader in that
    /// session first, for those children: SessionOrder.birth). A leader that
    /// is a zombie is made from its parent: the process waits for that one.
    static func orderParentsFirst(_ pids: [pid_t], stats: [pid_t: ProcStat]) -> [pid_t] {
        let set = Set(pids)
        var children: [pid_t: [pid_t]] = [:]
        for p in pids.sorted() { if let parent = stats[p]?.ppid { children[parent, default: []].append(p) } }
        // The session each is born in at restart, where it matters, as the restart works it out.
        let birth = SessionOrder(pids.map { .init(pid: $0, ppid: stats[$0]?.ppid ?? 0, sid: stats[$0]?.session ?? 0) }).birth
        // The leaders each process waits for (none where one is its own descendant: it cannot wait for that).
        var waitsFor: [pid_t: [pid_t]] = [:]
        func leaders(_ p: pid_t) -> [pid_t] {
            if let known = waitsFor[p] { return known }
            let all = [stats[p]?.session, stats[p]?.pgrp, birth[p]].compactMap { leader -> pid_t? in
                guard let l = leader, l != p else { return nil }
                if set.contains(l) { return l }
                guard let zombie = stats[l], zombie.state == "Z", set.contains(zombie.ppid), zombie.ppid != p else { return nil }
                return zombie.ppid
            }
            let found = all.contains { isDescendant($0, of: p, stats: stats) } ? [] : all
            waitsFor[p] = found
            return found
        }
        var out: [pid_t] = []
        var placed: Set<pid_t> = []
        var queue = pids.filter { !set.contains(stats[$0]?.ppid ?? 0) }.sorted()
        var head = 0
        var deferrals: [pid_t: Int] = [:]
        while head < queue.count {
            let p = queue[head]
            head += 1
            if leaders(p).contains(where: { !placed.contains($0) }), deferrals[p, default: 0] < pids.count {
                deferrals[p, default: 0] += 1
                queue.append(p)
                continue
            }
            out.append(p)
            placed.insert(p)
            queue += (children[p] ?? []).filter { !placed.contains($0) }
        }
        return out + pids.filter { !placed.contains($0) }
    }

    static func isDescendant(_ pid: pid_t, of ancestor: pid_t, stats: [pid_t: ProcStat]) -> Bool {
        var at = pid
        for _ in 0..<stats.count {
            guard let parent = stats[at]?.ppid, parent > 0, parent != at else { return false }
            if parent == ancestor { return true }
            at = parent
        }
        return false
    }
}
