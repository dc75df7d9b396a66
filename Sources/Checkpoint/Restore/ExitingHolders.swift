import Glibc
import LinuxKit

/// A process killed by `cr_checkpoint --kill` gives its memory back, then
/// stays a zombie until its parent (often init) reaps it, and its PID is
/// not free until then. A
/// restart right after the checkpoint waits a moment for such IDs instead
/// of failing with "in use" at once.
enum ExitingHolders {
    /// Waits up to `limit` seconds while any of `ids` belongs to a zombie
    /// or a dead task; returns the seconds waited.
    /// After half a second `notice` is told which IDs it waits for.
    static func wait(for ids: [pid_t], limit: Double = 5, notice: ((String) -> Void)? = nil) -> Double {
        var seen: Set<pid_t> = []
        // A process's ID is also its main thread's: each is waited for (and named) once.
        var pending = ids.filter { seen.insert($0).inserted && isExiting($0) }
        var waited = 0.0
        var told = false
        while !pending.isEmpty && waited < limit {
            usleep(20_000)
            waited += 0.02
            pending = pending.filter(isExiting)
            if !told && waited >= 0.5 && !pending.isEmpty {
                told = true
                notice?(Self.notice(pending, limit: limit))
            }
        }
        return waited
    }

    /// What the restart is waiting for, in one line.
    static func notice(_ pending: [pid_t], limit: Double) -> String {
        let list = pending.prefix(8).map(String.init).joined(separator: ", ") + (pending.count > 8 ? ", ..." : "")
        let held = pending.count == 1 ? "PID \(list), still held by an exited process its parent has"
                                      : "PIDs \(list), still held by exited processes their parents have"
        return "waiting up to \(Int(limit)) s for \(held) not reaped"
    }

    /// True if the task with this ID has exited but is still listed (state
    /// Z or X), or is in do_exit (a killed process with much memory takes a
    /// while to give it back before it is a zombie): PF_POSTCOREDUMP, set
    /// first thing there, or PF_EXITING.
    static func isExiting(_ id: pid_t) -> Bool {
        guard let stat = try? ProcStat.read(pid: id) else { return false }
        return stat.state == "Z" || stat.state == "X" || stat.flags & (0x4 | 0x8) != 0
    }
}
