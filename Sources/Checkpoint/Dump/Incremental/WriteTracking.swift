import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Written-page tracking for pre-dumps and incremental checkpoints, without
/// soft-dirty bits: a userfaultfd made inside the target (injected) with
/// asynchronous write protection (UFFD_FEATURE_WP_ASYNC) over its private
/// writable mappings. Protecting a page costs nothing until it is written;
/// a write clears the protection in the kernel (no fault reaches anyone),
/// and PAGEMAP_SCAN reads which pages were written. The descriptor stays in
/// the target between checkpoints (a userfaultfd's registrations end with
/// it), at a high number; TrackingRecords remembers it and since which
/// image its protection counts.
final class WriteTracking {
    /// Per process: the tracking descriptor in the target, and whether its
    /// written pages count from the parent image of this checkpoint.
    struct Process {
        var remoteFD: Int32
        /// Made by this checkpoint (closed again if it fails).
        var made = false
        var sinceParent = false
        /// The record's path, computed while the process lives.
        var recordPath: String?
        /// The mappings registered with this descriptor (TrackingRecord.ranges).
        var ranges: [Range<UInt64>] = []
    }

    var parentID: UInt64?
    let log: Logger
    private(set) var processes: [pid_t: Process] = [:]
    var warnings: [String] = []
    /// Processes whose descriptor this checkpoint made (they had none before it).
    private var madeHere: Set<pid_t> = []

    init(parentID: UInt64?, log: Logger) {
        self.parentID = parentID
        self.log = log
    }

    /// Before the processes are collected: the descriptors already tracking
    /// them are found (and hidden from the file table).
    func adopt(_ pids: [pid_t], context: DumpContext) {
        for pid in pids {
            guard let record = TrackingRecords.read(pid) else { continue }
            processes[pid] = Process(remoteFD: record.fd, sinceParent: parentID != nil && record.imageID == parentID,
                                     recordPath: TrackingRecords.path(pid), ranges: record.ranges)
            context.hiddenDescriptors[pid] = record.fd
        }
    }

    /// Whether `pid`'s written pages since the parent image are known.
    func knowsWrites(_ pid: pid_t) -> Bool { processes[pid]?.sinceParent == true }

    /// Where `pid`'s memory is registered with swiftcr's descriptor: a
    /// registered mapping elsewhere is the program's own.
    func registeredRanges(_ pid: pid_t) -> [Range<UInt64>] { processes[pid]?.ranges ?? [] }

    /// A userfaultfd made in the stopped process by an injected call, moved
    /// to a high descriptor number so the program's own descriptors keep
    /// their numbers. Called after its files are collected.
    func makeDescriptor(_ pid: pid_t, session: RemoteSession) throws {
        guard processes[pid] == nil else { return }
        let flags = UInt64(O_CLOEXEC | O_NONBLOCK) | UInt64(Userfaultfd.userModeOnly)
        let made = try session.raw(NR.userfaultfd, flags)
        guard made >= 0 else {
            warnings.append("process \(pid): no write tracking (userfaultfd: \(errorText(Int32(-made)))); the next incremental checkpoint saves every page")
            return
        }
        var limit = rlimit()
        let got = withUnsafeMutablePointer(to: &limit) { p in
            try? rawSyscall("prlimit64", NR.prlimit64, Int(pid), Int(RLIMIT_NOFILE.rawValue), 0, Int(bitPattern: p))
        }
        let soft = got != nil ? Int64(clamping: limit.rlim_cur) : 1024
        let high = max(3, min(soft, 1024) - 32)
        var fd = made
        let moved = try session.raw(NR.fcntl, UInt64(made), UInt64(F_DUPFD_CLOEXEC), UInt64(high))
        if moved >= 0 {
            _ = try session.raw(NR.close, UInt64(made))
            fd = moved
        }
        processes[pid] = Process(remoteFD: Int32(fd), made: true, recordPath: TrackingRecords.path(pid))
        madeHere.insert(pid)
    }

    /// Registers the process's private writable mappings and write-protects
    /// every page in them, so that from now on a written page shows. Run
    /// while the process is stopped; `imageID` is the image this counts from.
    /// `protectedAlready`: the incremental plan's scan protected the
    /// mappings that were tracked; only the others are done here.
    func arm(_ pid: pid_t, maps: [(MapsEntry, Mapping)], imageID: UInt64, protectedAlready: Bool = false) throws {
        guard var p = processes[pid] else { return }
        try testHookDenyWriteTracking()
        let ours = try SocketBorrower.borrowOnce(pid: pid, fd: p.remoteFD)
        defer { close(ours) }
        let uffd = Userfaultfd(fd: ours)
        if p.made, case .failure(let e) = uffd.handshake(features: Userfaultfd.writeProtectAsync) {
            throw CheckpointError(e.rawValue, "process \(pid): asynchronous write protection (UFFDIO_API, UFFD_FEATURE_WP_ASYNC, Linux 6.7+): \(e)")
        }
        let pagemap = try Pagemap(pid: pid)
        defer { pagemap.close() }
        var tracked = 0
        var ranges: [Range<UInt64>] = []
        for (m, mapping) in maps where Self.trackable(m, mapping) {
            // A registration before ours is the program's own: smaps could not
            // tell it from ours later, and protecting its pages would change
            // what its own tracking sees. Such a process is not tracked.
            if p.made && m.vmFlags.contains(where: { ["uw", "um", "ui"].contains($0) }) {
                throw CheckpointError(EBUSY, "process \(pid) uses userfaultfd itself (mapping 0x\(String(m.start, radix: 16)))")
            }
            if !m.vmFlags.contains("uw") {
                switch uffd.registerWriteProtect(start: m.start, length: m.length) {
                case .success: break
                case .failure(let e) where e == .resourceBusy:
                    throw CheckpointError(EBUSY, "process \(pid) uses userfaultfd itself (mapping 0x\(String(m.start, radix: 16)))")
                case .failure: continue
                }
            } else if !p.ranges.anyOverlaps(m.start..<m.end) {
                continue  // registered since the last checkpoint, not by us: left alone
            } else if protectedAlready {
                tracked += 1
                ranges.append(m.start..<m.end)
                continue
            }
            ranges.append(m.start..<m.end)
            // Only pages that exist are protected: an empty page written later shows as written anyway.
            _ = try pagemap.scan(start: m.start, end: m.end, anyOf: [.present, .swapped], protect: true)
            tracked += 1
        }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        try TrackingRecords.write(pid, TrackingRecord(fd: p.remoteFD, imageID: imageID, ranges: ranges))
        p.made = false
        p.ranges = ranges
        processes[pid] = p
        log.debug("process \(pid): write tracking armed on \(tracked) mappings (fd \(p.remoteFD)), counting from image \(String(imageID, radix: 16))")
    }

    /// Private writable memory the dump saves page by page.
    /// Not a private mapping of a deleted file (kept as anonymous memory):
    /// its pages never touched hold the file's bytes, which only a read of
    /// the mapping still finds, so it is saved whole each time (MemoryDumper).
    static func trackable(_ m: MapsEntry, _ mapping: Mapping) -> Bool {
        !m.shared && m.writable && [.anonymous, .privateFile, .privateShared].contains(mapping.kind)
            && !(mapping.kind == .anonymous && m.isFileBacked)
            && !mapping.advice.contains(.droppable) && !mapping.advice.contains(.sealed)
            && mapping.hugePageSize == 0  // hugetlb: saved whole each time
    }

    /// Closes the tracking descriptor in the stopped process (its
    /// registrations end with it) and forgets the record.
    func stop(_ pid: pid_t, session: RemoteSession?) {
        guard let p = processes.removeValue(forKey: pid) else { return }
        if let session { _ = try? session.raw(NR.close, UInt64(p.remoteFD)) }
        if let path = p.recordPath { unlink(path) }
    }

    /// A failed checkpoint: descriptors it made are closed again, the others left as they were.
    func undoMade(sessions: [pid_t: RemoteSession]) {
        for (pid, p) in processes where p.made {
            _ = try? sessions[pid]?.raw(NR.close, UInt64(p.remoteFD))
            processes[pid] = nil
        }
    }

    /// A failed incremental checkpoint whose scan protected pages again: the
    /// written pages since the parent are no longer known, so the record
    /// names no image and the next incremental checkpoint saves every page.
    func invalidate(_ pid: pid_t) {
        guard let p = processes[pid], !p.made else { return }
        try? TrackingRecords.write(pid, TrackingRecord(fd: p.remoteFD, imageID: 0, ranges: p.ranges))
    }

    /// A failed checkpoint whose processes run on already (a pre-dump fails
    /// after its thaw, in the read back): the descriptors it made are closed
    /// in a brief stop, so they leave as they came; where that fails the
    /// record stays (naming no image) and the next checkpoint adopts it.
    func closeMadeInRunningProcesses() {
        for pid in madeHere.sorted() {
            guard let p = processes[pid] else { continue }
            // One that has ended took its descriptor with it.
            if CheckpointRun.hasExited(pid) {
                if let path = p.recordPath { unlink(path) }
                processes[pid] = nil
                continue
            }
            do {
                try BriefStop.inject(pid, log: log) { session in _ = try session.raw(NR.close, UInt64(p.remoteFD)) }
                if let path = p.recordPath { unlink(path) }
                processes[pid] = nil
            } catch {
                log.warning("process \(pid): its write-tracking descriptor \(p.remoteFD) could not be closed (\(error)); the next checkpoint takes it over")
            }
        }
        madeHere = []
    }

    /// The processes are killed: their records go (the descriptors die with them).
    func forgetAll() {
        for p in processes.values { if let path = p.recordPath { unlink(path) } }
        processes = [:]
    }
}
