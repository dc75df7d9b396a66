import CheckpointImage
import Glibc
import LinuxKit

/// Hands a stopped, fully restored process's waiting sections to the pager:
/// a userfaultfd made inside it (injected), taken over by the restorer and
/// closed in the process, so nothing of it stays there; then the ranges
/// that hold those sections are registered for missing-page faults. A page
/// that is already present (the restore itself touched it) would never
/// fault: its section is written now, before the registration.
enum LazyRegistration {
    /// A userfaultfd made in the stopped process by an injected call, taken
    /// over by the restorer and closed there. Done while the restore's
    /// trampoline is still mapped (before `finish` drops it).
    static func takeUserfaultfd(_ r: ProcessRestore, userMode: Bool) throws -> Int32 {
        let flags = UInt64(O_CLOEXEC | O_NONBLOCK) | (userMode ? UInt64(Userfaultfd.userModeOnly) : 0)
        let remote = try r.session.raw(NR.userfaultfd, flags)
        guard remote >= 0 else { throw CheckpointError(Int32(-remote), "process \(r.process.pid): userfaultfd: \(errorText(Int32(-remote)))") }
        defer { _ = try? r.session.raw(NR.close, UInt64(remote)) }
        let ours = try SocketBorrower.borrowOnce(pid: r.stub, fd: Int32(remote))
        _ = fcntl(ours, F_SETFD, FD_CLOEXEC)
        return ours
    }

    /// Once nothing more is injected: pages the restore touched are written
    /// now (they would never fault), the rest of the ranges registered.
    static func register(_ r: ProcessRestore, uffd ours: Int32, sections: [ImageReader.PagesSection], plan: LazyPlan,
                         loader: PagesSectionLoader, features: UInt64) throws -> LazyPager.Tracked? {
        let pagemap = try Pagemap(pid: r.stub)
        defer { pagemap.close() }
        var waiting: [ImageReader.PagesSection] = []
        for s in sections {
            // One page-table walk per run where the kernel has PAGEMAP_SCAN, else the run's pagemap entries.
            let touched = try s.runs.contains { run in
                try pagemap.anyPresent(start: run.address, end: run.end) ?? pagemap.entries(start: run.address, end: run.end).contains { $0 & Pagemap.present != 0 }
            }
            if touched {
                try r.memory.write(ranges: s.runs.map { ($0.address, Int($0.byteCount)) }, from: try loader.load(s))
            } else {
                waiting.append(s)
            }
        }
        guard !waiting.isEmpty else { close(ours); return nil }
        let uffd = Userfaultfd(fd: ours)
        if case .failure(let e) = uffd.handshake(features: features) {
            throw CheckpointError(e.rawValue, "process \(r.process.pid): UFFDIO_API: \(e)")
        }
        let ranges = plan.eligible[r.process.pid] ?? []
        for range in ranges where waiting.contains(where: { s in s.runs.contains { $0.address >= range.start && $0.end <= range.end } }) {
            if case .failure(let e) = uffd.register(start: range.start, length: range.end - range.start) {
                throw CheckpointError(e.rawValue, "process \(r.process.pid): UFFDIO_REGISTER 0x\(String(range.start, radix: 16)): \(e)")
            }
        }
        return LazyPager.Tracked(uffd: uffd, pid: r.stub, originalPID: r.process.pid, sections: waiting, hot: plan.hot[r.process.pid] ?? [])
    }
}
