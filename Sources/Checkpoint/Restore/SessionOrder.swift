import Glibc

/// The order a tree's stubs are made in so that every process is born in
/// the session it has. A child keeps the session it was forked in; a parent
/// that later called setsid has children in its old session (zdtm session00):
/// those are forked before the parent's setsid, the others after. So a
/// process that leads a session of its own takes it (`identity`) only once
/// the children that need its earlier session exist.
struct SessionOrder {
    struct Member: Equatable {
        let pid: pid_t
        let ppid: pid_t
        let sid: pid_t
    }

    enum Step: Equatable {
        /// Fork the process, and set its session and group at once unless `deferIdentity`.
        case make(pid_t, deferIdentity: Bool)
        /// The deferred setsid (and group) of a process made earlier. (StubTree
        /// takes it as soon as the last early child is made, which is as good:
        /// that child's own children are forked from it, in its session.)
        case identity(pid_t)
    }

    let steps: [Step]
    /// Per session leader whose setsid waits: the children to fork before it.
    let early: [pid_t: [pid_t]]
    /// The session each process must be born in, where it matters: its own
    /// (not led by it), or for a leader the earlier one a child of it needs.
    let birth: [pid_t: pid_t]

    /// `members` parents first (the image's order); those whose parent is
    /// not among them start a walk of their own, in that order.
    init(_ members: [Member]) {
        let known = Set(members.map(\.pid))
        var children: [pid_t: [Member]] = [:]
        for m in members where known.contains(m.ppid) && m.ppid != m.pid { children[m.ppid, default: []].append(m) }
        // The session each process must be born in, if it matters (nil: any).
        var birth: [pid_t: pid_t] = [:]
        func need(_ m: Member) -> pid_t? {
            if let b = birth[m.pid] { return b }
            var found: pid_t?
            if m.sid != m.pid {
                found = m.sid
            } else {
                for c in children[m.pid] ?? [] {
                    if let n = need(c), n != m.pid { found = n; break }
                }
            }
            if let found { birth[m.pid] = found }
            return found
        }
        // Per session leader, the children to fork before its setsid. Not for
        // a root: the session it was born in is outside the image (a PID
        // namespace's init gets the orphans of other sessions through holders).
        var early: [pid_t: [Member]] = [:]
        for m in members where m.sid == m.pid && known.contains(m.ppid) && m.ppid != m.pid {
            let before = (children[m.pid] ?? []).filter { c in need(c).map { $0 != m.pid } ?? false }
            if !before.isEmpty { early[m.pid] = before }
        }
        for m in members { _ = need(m) }
        self.birth = birth
        // Nothing to defer: the image's order as it is.
        self.early = early.mapValues { $0.map(\.pid) }
        guard !early.isEmpty else {
            steps = members.map { .make($0.pid, deferIdentity: false) }
            return
        }
        var steps: [Step] = []
        var visited: Set<pid_t> = []
        func visit(_ m: Member) {
            guard visited.insert(m.pid).inserted else { return }
            let kids = children[m.pid] ?? []
            let before = early[m.pid] ?? []
            steps.append(.make(m.pid, deferIdentity: !before.isEmpty))
            for c in before { visit(c) }
            if !before.isEmpty { steps.append(.identity(m.pid)) }
            for c in kids where !before.contains(c) { visit(c) }
        }
        for m in members where !known.contains(m.ppid) || m.ppid == m.pid { visit(m) }
        for m in members { visit(m) }  // any left (a cycle cannot happen; kept for safety)
        self.steps = steps
    }
}
