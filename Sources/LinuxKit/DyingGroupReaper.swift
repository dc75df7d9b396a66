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
    /// Tasks being waited on, each with how many waits are on it.
    private static let waitedOn = Mutex<[pid_t: Int]>([:])
    private static let watcherStarted = Atomic<Bool>(false)

    static func waiting<T>(on tid: pid_t, _ body: () throws -> T) rethrows -> T {
        waitedOn.withLock { $0[tid, default: 0] += 1 }
        defer {
            waitedOn.withLock { table in
                if let n = table[tid], n > 1 { table[tid] = n - 1 } else { table[tid] = nil }
            }
        }
        startWatcher()
        return try body()
    }

    private static func startWatcher() {
        guard !watcherStarted.load(ordering: .relaxed),
              watcherStarted.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        // Nothing here may be lost if it fails: waits then behave as before.
        _ = pthread_create(&thread, &attributes, { _ in
            DyingGroupReaper.watch()
            return nil
        }, nil)
        pthread_attr_destroy(&attributes)
    }

    private static func watch() -> Never {
        // The watcher takes none of the process's signals (cr_checkpoint holds TERM and INT back on purpose).
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, nil)
        while true {
            usleep(100_000)
            let tids = waitedOn.withLock { Array($0.keys) }
            for tid in tids { reapExitedThreads(ifLeaderExited: tid) }
        }
    }

    /// The leader has exited (a zombie) but cannot be reported: reap its
    /// group's other threads that have exited too.
    static func reapExitedThreads(ifLeaderExited tid: pid_t) {
        guard let stat = try? ProcStat.read(pid: tid), stat.pid == tid, stat.state == "Z" || stat.state == "X" else { return }
        guard let status = try? ProcStatus.read(pid: tid), status.fields["Tgid"] == String(tid) else { return }
        for other in (try? Sys.numericEntries("/proc/\(tid)/task")) ?? [] where other != tid {
            var info = siginfo_t()
            _ = waitid(P_PID, id_t(other), &info, WEXITED | WNOHANG | __WALL)
        }
    }
}
