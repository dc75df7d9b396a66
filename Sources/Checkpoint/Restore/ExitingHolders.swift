import Glibc
import LinuxKit

/// A process killed by `cr_checkpoint --kill` stays a zombie until its
/// parent (often init) reaps it, and its PID is not free until then. A
/// restart right after the checkpoint waits a moment for such IDs instead
/// of failing with "in use" at once.
enum ExitingHolders {
    /// Waits up to `limit` seconds while any of `ids` belongs to a zombie
    /// or a dead task; returns the seconds waited.
    static func wait(for ids: [pid_t], limit: Double = 5) -> Double {
        var pending = ids.filter(isExiting)
        var waited = 0.0
        while !pending.isEmpty && waited < limit {
            usleep(20_000)
            waited += 0.02
            pending = pending.filter(isExiting)
        }
        return waited
    }

    /// True if the task with this ID has exited but is still listed (state Z or X).
    static func isExiting(_ id: pid_t) -> Bool {
        guard let state = (try? ProcStat.read(pid: id))?.state else { return false }
        return state == "Z" || state == "X"
    }
}
