import Glibc
import LinuxKit

/// A process killed by `cr_checkpoint --kill` stays a zombie until its
/// parent (often init) reaps it, and its PID is not free until then. A
/// restart right after the checkpoint waits a moment for such IDs instead
/// of failing with "in use" at once.
enum ExitingHolders {
    /// Waits up to `limit` seconds while any of `ids` belongs to a zombie
    /// or a dead task; returns the seconds waited.
    /// After half a second `notice` is told which IDs it waits for.
    static func wait(for ids: [pid_t], limit: Double = 5, notice: ((String) -> Void)? = nil) -> Double {
        var pending = ids.filter(isExiting)
        var waited = 0.0
        var told = false
        while !pending.isEmpty && waited < limit {
            usleep(20_000)
            waited += 0.02
            pending = pending.filter(isExiting)
            if !told && waited >= 0.5 && !pending.isEmpty {
                told = true
                let list = pending.prefix(8).map(String.init).joined(separator: ", ") + (pending.count > 8 ? ", ..." : "")
                notice?("waiting up to \(Int(limit)) s for PID \(list), still held by an exited process its parent has not reaped")
            }
        }
        return waited
    }

    /// True if the task with this ID has exited but is still listed (state Z or X).
    static func isExiting(_ id: pid_t) -> Bool {
        guard let state = (try? ProcStat.read(pid: id))?.state else { return false }
        return state == "Z" || state == "X"
    }
}
