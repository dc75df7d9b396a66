import CheckpointImage
import Glibc
import LinuxKit

/// The restorer's side of a lazy restore once the processes run: it answers
/// their missing-page faults with UFFDIO_COPY from the image (a fault loads
/// the whole section that holds the page, checksum checked), and in between
/// copies the remaining sections in the background, those near the threads'
/// stacks first, then by address. It follows the processes' own changes:
/// pages dropped by MADV_DONTNEED or munmap are never filled from the image
/// (they read as zeros, as they would have), mremap moves the pages still
/// waiting, and a fork gives the child its own userfaultfd with the same
/// pages waiting. A process that exits is dropped. When nothing waits, the
/// userfaultfds close: the kernel unregisters the ranges and the processes
/// are ordinary again.
public final class LazyPager: @unchecked Sendable {
    /// One run of pages still waiting: where it goes now, and where its bytes are in the section's data.
    struct Piece { var address: UInt64; var offset: Int; var length: Int }

    struct Waiting {
        let section: ImageReader.PagesSection
        var pieces: [Piece]
        /// Near a thread's stack or TLS at restart: copied first.
        var hot: Bool
    }

    /// One process (or a child it forked during the lazy phase) and what it still waits for.
    final class Tracked {
        let uffd: Userfaultfd
        let pid: pid_t
        let originalPID: pid_t
        var waiting: [Waiting]
        var gone = false
        /// Its userfaultfd closed before the others' (`release`): the process is ordinary.
        var released = false

        init(uffd: Userfaultfd, pid: pid_t, originalPID: pid_t, sections: [ImageReader.PagesSection], hot: [(start: UInt64, end: UInt64)]) {
            self.uffd = uffd
            self.pid = pid
            self.originalPID = originalPID
            waiting = sections.map { s in
                var offset = 0
                let pieces = s.runs.map { run -> Piece in
                    defer { offset += Int(run.byteCount) }
                    return Piece(address: run.address, offset: offset, length: Int(run.byteCount))
                }
                let near = s.runs.contains { run in hot.contains { run.address < $0.end + (1 << 20) && run.end + (1 << 20) > $0.start } }
                return Waiting(section: s, pieces: pieces, hot: near)
            }
            // Hot sections first, then by address (the image's order within a process).
            waiting.sort { ($0.hot ? 0 : 1, $0.pieces.first?.address ?? 0) < ($1.hot ? 0 : 1, $1.pieces.first?.address ?? 0) }
        }

        init(forkedFrom parent: Tracked, uffd: Userfaultfd) {
            self.uffd = uffd
            pid = 0
            originalPID = parent.originalPID
            waiting = parent.waiting
        }
    }

    public struct Stats: Sendable {
        public var faults = 0, sectionsCopied = 0, bytesCopied = 0, forks = 0, zeroPages = 0
        /// Processes filled and unregistered early (a user's restore): for a system call
        /// that failed with EFAULT, issued again after, or before a caught signal's delivery.
        public var refills = 0
        public var seconds = 0.0
        public var failures: [String] = []
    }

    private var tracked: [Tracked]
    private let loader: SectionPrefetcher
    private var watchdog: LazyWatchdog?
    public private(set) var stats = Stats()

    private var tracer: ForkTracer?
    /// Processes whose userfaultfd closed when every page was in, before the
    /// tracer let go: each may have one call that failed with EFAULT to issue again.
    private var closedAtEnd: Set<pid_t> = []
    /// Exit statuses of restored processes the tracer reaped while it traced them (cr_restart's own child among them).
    public private(set) var reaped: [pid_t: Int32] = [:]

    init(tracked: [Tracked], loader: PagesSectionLoader, watchdog: LazyWatchdog?, tracer: ForkTracer? = nil) {
        self.tracked = tracked
        self.loader = SectionPrefetcher(fd: loader.fd, enabled: !PIDNamespace.entered)
        self.watchdog = watchdog
        self.tracer = tracer
    }

    /// The processes that stay traced until every page is in (a user's lazy restore).
    var tracedProcesses: [pid_t] { tracer == nil ? [] : tracked.map(\.pid) }

    public var waitingBytes: Int { tracked.reduce(0) { $0 + $1.waiting.reduce(0) { $0 + $1.pieces.reduce(0) { $0 + $1.length } } } }

    /// Serves faults and copies in the background until every page is in (or its process is gone).
    @discardableResult
    public func run() -> Stats {
        let started = Clock.now
        while tracked.contains(where: { !$0.gone && !$0.waiting.isEmpty }) {
            tracer?.poll(tracerPager)
            serveEvents()
            if let t = tracked.first(where: { !$0.gone && !$0.waiting.isEmpty }) { copy(t, at: 0) }
        }
        loader.finish()
        testHookPagerEnd { tracer?.poll(tracerPager) }
        // Every page is in: the userfaultfds close before the tracer lets go. A
        // thread in munmap, mremap or madvise of registered memory waits until
        // its event is read, so it would never take the stop `detachAll` asks
        // for (a user's lazily restarted Erlang VM hung so); a closed one wakes it.
        for t in tracked where !t.released {
            close(t.uffd.fd)
            t.released = true
            closedAtEnd.insert(t.pid)
        }
        tracer?.detachAll(tracerPager)
        reaped = tracer?.reaped ?? [:]
        tracer = nil
        tracked = []
        watchdog?.release()
        watchdog = nil
        stats.seconds = Clock.now - started
        return stats
    }

    private var tracerPager: ForkTracer.Pager {
        ForkTracer.Pager(fill: { [unowned self] in fillForkedChild($0, $1) }, refill: { [unowned self] in fillEverything(of: $0) })
    }

    /// The tracked process `thread` belongs to.
    private func tracked(holding thread: pid_t) -> Tracked? {
        let tgid = (try? ProcStatus.read(pid: thread).fields["Tgid"]).flatMap { $0.flatMap { pid_t($0) } } ?? thread
        return tracked.first { $0.pid == tgid }
    }

    /// A system call of the process failed with EFAULT while its memory was
    /// registered (a user's userfaultfd serves no fault the kernel takes),
    /// or a signal handler's frame is about to be written: every page it
    /// waits for goes in now, events served in between (a copy waits while
    /// the process changes its mappings), and its userfaultfd closes, so
    /// pages in no image section (never touched before the checkpoint, an
    /// untouched alternate stack) are the kernel's to fill again. Whether
    /// the process was still registered.
    private func fillEverything(of thread: pid_t) -> Bool {
        guard let t = tracked(holding: thread), !t.gone else { return false }
        // Closed when every page was in, with a call that failed before that
        // still to be seen: issued again once, as it would have been before.
        if t.released { return closedAtEnd.remove(t.pid) != nil }
        stats.refills += 1
        while !t.gone && !t.waiting.isEmpty {
            serveEvents()
            if !t.waiting.isEmpty { copy(t, at: 0) }
        }
        if !t.gone {
            serveEvents()
            close(t.uffd.fd)
            t.released = true
        }
        return true
    }

    /// A child forked (as seen by the tracer) while its parent still waits
    /// for pages: it is held stopped, its memory its own and unregistered, so
    /// the parent's waiting pages are written into it now.
    private func fillForkedChild(_ parentThread: pid_t, _ child: pid_t) {
        guard let t = tracked(holding: parentThread) else { return }
        stats.forks += 1
        let memory = RemoteMemory(pid: child)
        for w in t.waiting {
            guard let data = try? loader.load(w.section) else { kill(child, SIGKILL); return }
            for p in w.pieces {
                do { try memory.write(ranges: [(p.address, p.length)], from: UnsafeRawBufferPointer(rebasing: data[p.offset..<(p.offset + p.length)])) } catch {
                    stats.failures.append("process \(t.originalPID): its child \(child), forked while pages were missing, could not be given them (\(error)); it was killed")
                    kill(child, SIGKILL)
                    return
                }
            }
        }
    }

    /// Reads every waiting event of every userfaultfd and answers it.
    private func serveEvents() {
        let open = tracked.filter { !$0.released }
        var fds = open.map { pollfd(fd: $0.uffd.fd, events: Int16(POLLIN), revents: 0) }
        guard !fds.isEmpty, poll(&fds, nfds_t(fds.count), 0) > 0 else { return }
        for (k, t) in zip(fds.indices, open) where fds[k].revents != 0 && !t.gone {
            while case .success(let event?) = t.uffd.readEvent() { handle(event, of: t) }
        }
    }

    private func handle(_ event: Userfaultfd.Event, of t: Tracked) {
        switch event {
        case .pageFault(let address):
            stats.faults += 1
            let page = address & ~4095
            if let k = t.waiting.firstIndex(where: { $0.pieces.contains { page >= $0.address && page < $0.address + UInt64($0.length) } }) {
                copy(t, at: k)
            } else {
                // Not in the image (never written), or dropped since: a zero page, as the kernel would give.
                stats.zeroPages += 1
                switch t.uffd.zero(start: page, length: 4096) {
                case .failure(.noSuchProcess): t.gone = true
                case .failure(.fileExists): t.uffd.wake(start: page, length: 4096)  // filled meanwhile
                default: break
                }
            }
        case .fork(let child):
            stats.forks += 1
            _ = fcntl(child, F_SETFD, FD_CLOEXEC)
            _ = fcntl(child, F_SETFL, O_NONBLOCK)
            tracked.append(Tracked(forkedFrom: t, uffd: Userfaultfd(fd: child)))
        case .remap(let from, let to, let length):
            t.waiting = t.waiting.map { w in var w = w; w.pieces = Self.moved(w.pieces, from: from, to: to, length: length); return w }
        case .remove(let start, let end, _):
            t.waiting = t.waiting.map { w in var w = w; w.pieces = Self.cut(w.pieces, start: start, end: end); return w }.filter { !$0.pieces.isEmpty }
        case .other: break
        }
    }

    /// Copies one waiting section into its process and wakes whoever waits on it.
    private func copy(_ t: Tracked, at k: Int) {
        let w = t.waiting.remove(at: k)
        let data: UnsafeRawBufferPointer
        do {
            data = try loader.load(w.section)
            // The next section in line is read and checked while this one goes in.
            if let next = tracked.first(where: { !$0.gone && !$0.waiting.isEmpty })?.waiting.first { loader.prefetch(next.section) }
        } catch {
            // The image cannot give these pages any more: the process must not run on without them.
            stats.failures.append("process \(t.originalPID): \(error); it was killed")
            if t.pid > 0 { kill(t.pid, SIGKILL) }
            t.gone = true
            return
        }
        var again: [Piece] = []
        for p in w.pieces {
            switch Self.fill(t.uffd, p, from: data) {
            case .done: stats.bytesCopied += p.length
            case .retry: again.append(p)
            case .gone: t.gone = true; return
            }
        }
        stats.sectionsCopied += 1
        if !again.isEmpty {
            var left = w
            left.pieces = again
            t.waiting.append(left)
        }
    }

    enum Fill { case done, retry, gone }

    /// UFFDIO_COPY of one piece. The kernel copies in order and stops at the
    /// first page already present (EEXIST once nothing before it was copied):
    /// that page is stepped over. A range that is not inside one registered
    /// mapping is refused whole (ENOENT): the process split the mapping since
    /// (mprotect, madvise: Go's runtime does) or unmapped part of it, so the
    /// copy is halved until a part fits, and a page of no registered mapping
    /// is stepped over (nothing may be filled there).
    static func fill(_ uffd: Userfaultfd, _ p: Piece, from data: UnsafeRawBufferPointer) -> Fill {
        var done = 0
        var limit = p.length
        while done < p.length {
            let length = min(limit, p.length - done)
            let bytes = UnsafeRawBufferPointer(rebasing: data[(p.offset + done)..<(p.offset + done + length)])
            switch uffd.copy(to: p.address + UInt64(done), from: bytes) {
            case .success(let n):
                done += n > 0 ? n : length
                limit = p.length
            case .failure(.resourceTemporarilyUnavailable): return .retry  // the mapping is changing: later
            case .failure(.noSuchProcess): return .gone
            case .failure(.fileExists):
                done += 4096
                limit = p.length
            case .failure:
                if length > 4096 {
                    limit = max(4096, (length / 2) & ~4095)
                } else {
                    done += 4096
                    limit = p.length
                }
            }
        }
        return .done
    }

    /// Pieces after mremap moved [from, from+length) to `to`.
    static func moved(_ pieces: [Piece], from: UInt64, to: UInt64, length: UInt64) -> [Piece] {
        var out: [Piece] = []
        for p in pieces {
            for var part in split(p, at: [from, from + length]) {
                if part.address >= from && part.address < from + length { part.address = part.address - from + to }
                out.append(part)
            }
        }
        return out
    }

    /// Pieces without [start, end).
    static func cut(_ pieces: [Piece], start: UInt64, end: UInt64) -> [Piece] {
        pieces.flatMap { split($0, at: [start, end]) }.filter { $0.address < start || $0.address >= end }
    }

    /// A piece split at page-aligned addresses inside it.
    static func split(_ p: Piece, at points: [UInt64]) -> [Piece] {
        var parts = [p]
        for point in points where point > p.address && point < p.address + UInt64(p.length) {
            guard let last = parts.popLast() else { break }
            let head = Int(point - last.address)
            parts.append(Piece(address: last.address, offset: last.offset, length: head))
            parts.append(Piece(address: point, offset: last.offset + head, length: last.length - head))
        }
        return parts
    }
}
