import CheckpointImage
import Glibc
import SystemPackage
import LinuxKit
import Logging

/// What a lazy restore needs from this kernel and this user, found before
/// anything is restored, and the hand-over of the stopped processes to the pager.
enum LazyProbe {
    /// The userfaultfd features the pager asks for, and whether forks must be
    /// followed by tracing (a user: fork events need CAP_SYS_PTRACE), or why
    /// lazy restore cannot be done here.
    static func check(fd: Int32) -> Result<(features: UInt64, traceForks: Bool), LazyRefusal> {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return .failure(LazyRefusal("the image is not a regular file (pages are read in the order they are needed)")) }
        var why = ""
        for flags in [0, Userfaultfd.userModeOnly] {
            let probe = Int32(truncatingIfNeeded: Syscall.raw(NR.userfaultfd, Int(O_CLOEXEC | O_NONBLOCK) | flags))
            guard probe >= 0 else { why = "userfaultfd: \(errorText(errno))"; continue }
            defer { close(probe) }
            switch Userfaultfd(fd: probe).handshake(features: Userfaultfd.followChanges | Userfaultfd.followForks) {
            case .success: return .success((Userfaultfd.followChanges | Userfaultfd.followForks, false))
            case .failure(.notPermitted):
                // A handshake is once per descriptor: try the user's features on a new one.
                let second = Int32(truncatingIfNeeded: Syscall.raw(NR.userfaultfd, Int(O_CLOEXEC | O_NONBLOCK) | flags))
                guard second >= 0 else { continue }
                defer { close(second) }
                if case .success = Userfaultfd(fd: second).handshake(features: Userfaultfd.followChanges) {
                    return .success((Userfaultfd.followChanges, true))
                }
                why = "UFFDIO_API refused"
            case .failure(let e): why = "UFFDIO_API: \(e)"
            }
        }
        return .failure(LazyRefusal(why))
    }

    /// Whether the restorer's own userfaultfds need UFFD_USER_MODE_ONLY.
    static var userModeOnly: Bool {
        let probe = Int32(truncatingIfNeeded: Syscall.raw(NR.userfaultfd, Int(O_CLOEXEC | O_NONBLOCK)))
        if probe >= 0 { close(probe); return false }
        return true
    }
}

struct LazyRefusal: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

enum LazyRestore {
    /// Before `finish`: a userfaultfd for each process with waiting sections.
    /// A process that cannot have one gets its sections written now.
    static func takeDescriptors(_ restores: [ProcessRestore], deferred: inout [pid_t: [ImageReader.PagesSection]],
                                loader: PagesSectionLoader, warnings: inout [String]) -> [pid_t: Int32] {
        var fds: [pid_t: Int32] = [:]
        let userMode = LazyProbe.userModeOnly
        for r in restores {
            guard let sections = deferred[r.process.pid], !sections.isEmpty else { continue }
            do { fds[r.process.pid] = try LazyRegistration.takeUserfaultfd(r, userMode: userMode) } catch {
                warnings.append("process \(r.process.pid): lazy restore not possible (\(error)); its pages were written before it ran")
                writeNow(r, sections, loader: loader, warnings: &warnings)
                deferred[r.process.pid] = nil
            }
        }
        return fds
    }

    /// After `finish`, before any process runs: registration, the watchdog, the pager.
    static func register(_ restores: [ProcessRestore], descriptors: [pid_t: Int32], deferred: [pid_t: [ImageReader.PagesSection]], plan: LazyPlan,
                         loader: PagesSectionLoader, features: UInt64, traceForks: Bool, log: Logger) -> (pager: LazyPager?, warnings: [String]) {
        var tracked: [LazyPager.Tracked] = []
        var warnings: [String] = []
        for r in restores {
            guard let fd = descriptors[r.process.pid], let sections = deferred[r.process.pid] else { continue }
            do {
                if let t = try LazyRegistration.register(r, uffd: fd, sections: sections, plan: plan, loader: loader, features: features) {
                    tracked.append(t)
                }
            } catch {
                // Closing our descriptor (the only one left) unregisters whatever was registered.
                close(fd)
                warnings.append("process \(r.process.pid): lazy restore not possible (\(error)); its pages were written before it ran")
                writeNow(r, sections, loader: loader, warnings: &warnings)
            }
        }
        guard !tracked.isEmpty else { return (nil, warnings) }
        let watchdog = LazyWatchdog(watching: tracked.map(\.pid))
        if watchdog == nil { warnings.append("lazy restore: no watchdog could be started; if cr_restart is killed before every page is in, the processes read zeros there") }
        log.info("lazy restore: \(tracked.count) processes wait for \(tracked.reduce(0) { $0 + $1.waiting.count }) sections")
        let tracer = traceForks ? ForkTracer(threads: restores.filter { r in tracked.contains { $0.pid == r.stub } }.flatMap(\.threadIDs)) : nil
        return (LazyPager(tracked: tracked, loader: loader, watchdog: watchdog, tracer: tracer), warnings)
    }

    static func writeNow(_ r: ProcessRestore, _ sections: [ImageReader.PagesSection], loader: PagesSectionLoader, warnings: inout [String]) {
        do {
            for s in sections { try r.memory.write(ranges: s.runs.map { ($0.address, Int($0.byteCount)) }, from: try loader.load(s)) }
        } catch {
            warnings.append("process \(r.process.pid): writing its pages failed too: \(error)")
        }
    }
}
