import Glibc
import Synchronization

/// A tracer blocked in waitpid() on a thread-group leader can wait forever:
/// when the group is killed, the kernel holds the leader's exit report back
/// until every other thread of the group has been reaped, and a traced
/// thread is reaped only by its tracer's wait, which this thread, blocked on
/// the leader, never makes. (A checkpoint whose target was SIGKILLed while
/// its leader was being stopped or was running an injected call hung so.)
/// While a wait on some task is under way, a watcher thread looks every
/// 100 ms: if that task is a leader that has exited, it reaps the group's
/// other exited threads (WEXITED only, so no stop is taken from anyone),
/// and the blocked wait then returns the leader's death.
enum DyingGroupReaper {
    /// Tasks being waited on (each with how many waits are on it), and
    /// whether the watcher runs: it ends when it finds no wait, so a
    /// cr_restart that waits days for its program has no thread polling.
    private struct State {
        var waitedOn: [pid_t: Int] = [:]
        var watching = false
    }
    private static let state = Mutex(State())

    static func waiting<T>(on tid: pid_t, _ body: () throws -> T) rethrows -> T {
        let start = state.withLock { s in
            s.waitedOn[tid, default: 0] += 1
            defer { s.watching = true }
            return !s.watching
        }
        if start { startWatcher() }
        defer {
            state.withLock { s in
                if let n = s.waitedOn[tid], n > 1 { s.waitedOn[tid] = n - 1 } else { s.waitedOn[tid] = nil }
            }
        }
        return try body()
    }

    private static func startWatcher() {
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        // If it cannot start, waits behave as before; the next wait tries again.
        if pthread_create(&thread, &attributes, { _ in
            DyingGroupReaper.watch()
            return nil
        }, nil) != 0 {
            state.withLock { $0.watching = false }
        }
        pthread_attr_destroy(&attributes)
    }

    private static func watch() {
        // The watcher takes none of the process's signals (cr_checkpoint holds TERM and INT back on purpose).
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, nil)
        while true {
            usleep(100_000)
            let tids = state.withLock { s -> [pid_t] in
                if s.waitedOn.isEmpty { s.watching = false }
                return Array(s.waitedOn.keys)
            }
            if tids.isEmpty { return }
            for tid in tids { reapExitedThreads(ifLeaderExited: tid) }
        }
    }

    /// The leader has exited (a zombie) but cannot be reported: reap its
    /// group's other threads that have exited too.
    static func reapExitedThreads(ifLeaderExited tid: pid_t) {
        guard let status = try? ProcStatus.read(pid: tid), status.fields["Tgid"] == String(tid),
              let state = status.fields["State"], state.hasPrefix("Z") || state.hasPrefix("X") else { return }
        for other in (try? Sys.numericEntries("/proc/\(tid)/task")) ?? [] where other != tid {
            var info = siginfo_t()
            _ = waitid(P_PID, id_t(other), &info, WEXITED | WNOHANG | __WALL)
        }
    }
}
