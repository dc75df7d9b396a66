import CheckpointImage
import Glibc
import LinuxKit

/// Re-arms interval timers and recreates POSIX timers with their original IDs
/// (prctl PR_TIMER_CREATE_RESTORE_IDS, Linux 6.17+). Runs once the threads
/// exist, since a timer may signal one thread; the time between checkpoint
/// and restart does not count, as under CRIU.
struct TimerRestorer {
    let session: RemoteSession
    let process: ProcessState
    /// Image TID -> TID as the restored process sees it.
    let threadIDs: [Int32: Int32]


    /// The itimerval to set (interval, then value; seconds and microseconds).
    /// A periodic ITIMER_REAL that expired with its SIGALRM not yet taken
    /// reads a zero value: the kernel re-arms it when the signal is taken.
    /// setitimer with a zero value would clear the interval too, so it is set
    /// to expire in a microsecond instead: its SIGALRM joins the pending one
    /// (or is ignored as the original's was) and it waits, idle, as it did.
    static func setting(_ timers: IntervalTimers, _ which: Int) -> [UInt64] {
        var v = Array(timers.timer(which))
        if which == 0, v[2] == 0, v[3] == 0, v[0] != 0 || v[1] != 0 { v[3] = 1 }
        return v
    }

    func restore() throws -> [String] {
        var warnings: [String] = []
        let scratch = 8192
        for which in 0..<3 where process.intervalTimers.timer(which).contains(where: { $0 != 0 }) {
            let at = try session.put(Self.setting(process.intervalTimers, which).flatMap { bytes(of: $0) }, at: scratch)
            try session.call("setitimer(\(which))", NR.setitimer, UInt64(which), at, 0)
        }
        guard !process.posixTimers.isEmpty else { return warnings }
        let exactIDs = try session.prctlRaw(.timerCreateRestoreIds, 1) == 0
        defer { if exactIDs { _ = try? session.prctlRaw(.timerCreateRestoreIds, 0) } }
        for t in process.posixTimers.sorted(by: { $0.id < $1.id }) {
            var event = [UInt8](repeating: 0, count: 64)  // struct sigevent
            func store(_ v: some FixedWidthInteger, at offset: Int) {
                withUnsafeBytes(of: v.littleEndian) { for (k, b) in $0.enumerated() { event[offset + k] = b } }
            }
            store(t.value, at: 0)
            store(t.signal, at: 8)
            // glibc's SIGEV_THREAD (2) is SIGEV_THREAD_ID to its helper thread in the kernel's eyes.
            store(t.notify & 4 != 0 ? Int32(4) : t.notify == 1 ? Int32(1) : Int32(0), at: 12)
            if t.notify & 4 != 0 {
                guard let tid = threadIDs[t.thread] else {
                    warnings.append("POSIX timer \(t.id) signalled thread \(t.thread), which is not in the image; not restored")
                    continue
                }
                store(tid, at: 16)
            }
            let eventAt = try session.put(event, at: scratch)
            let idAt = try session.put(value: t.id, at: scratch + 64)
            let r = try session.raw(NR.timer_create, UInt64(bitPattern: Int64(clock(of: t))), eventAt, idAt)
            guard r == 0 else {
                throw CheckpointError(errno: Int32(-r), "cannot recreate POSIX timer \(t.id) (clock \(t.clock))")
            }
            let got = try session.get(Int32.self, at: scratch + 64)
            if got != t.id { warnings.append("POSIX timer \(t.id) came back as timer \(got): this kernel cannot choose timer IDs") }
            let spec = [t.intervalSeconds, t.intervalNanoseconds, t.remainingSeconds, t.remainingNanoseconds].flatMap { bytes(of: $0) }
            try session.call("timer_settime(\(got))", NR.timer_settime, UInt64(got), 0, try session.put(spec, at: scratch + 128), 0)
        }
        return warnings
    }

    /// CPU-time clocks name a process or thread in their ID (~pid << 3 | type): renamed with the task.
    func clock(of t: PosixTimer) -> Int32 {
        guard t.clock < 0 else { return t.clock }
        let owner = ~(t.clock >> 3)
        let mapped = owner == process.pid ? threadIDs[process.threads[0].tid] ?? owner : threadIDs[owner] ?? owner
        return (~mapped << 3) | (t.clock & 7)
    }
}
