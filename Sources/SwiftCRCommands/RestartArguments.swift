import ArgumentParser
import Checkpoint
import CheckpointImage
import Glibc
import LinuxKit

/// The options of BLCR's cr_restart, shared by `cr_restart` and `swiftcr restart`.
/// BLCR's --omit-*: what to do with processes a callback asked to omit at checkpoint time.
/// swiftcr restarts the image without them; --omit-never refuses such an image.
enum OmitFlag: String, EnumerableFlag {
    case omitMaybe = "omit-maybe", omitAlways = "omit-always", omitNever = "omit-never"
    static func name(for value: OmitFlag) -> NameSpecification { .customLong(value.rawValue) }
    static func help(for value: OmitFlag) -> ArgumentHelp? {
        switch value {
        case .omitMaybe: return "Restart without omitted processes, saying so (default)."
        case .omitAlways: return "Restart without omitted processes, silently."
        case .omitNever: return "Refuse an image from which processes were omitted."
        }
    }
}

public struct RestartArguments: ParsableArguments {
    @Option(name: [.customShort("f"), .long], help: "Read the context from FILE (- for standard input).") var file: String?
    @Option(name: [.customShort("F"), .long], help: "Read the context from an open file descriptor.") var fd: Int32?
    @Flag(inversion: .prefixedNo, help: "Give the processes their original PIDs (default; needs root).") var restorePid = true
    @Flag(inversion: .prefixedNo, help: "Without the right to choose PIDs, restore in a new user+PID namespace to keep them (default).") var pidNamespace = true
    @Flag(inversion: .prefixedNo, help: "Restore process groups (default: join cr_restart's).") var restorePgid = false
    @Flag(inversion: .prefixedNo, help: "Restore sessions (default: join cr_restart's).") var restoreSid = false
    @Option(name: .long, help: ArgumentHelp("Restart with paths under OLD moved to NEW (up to 16; \\= and \\\\ escape).", valueName: "OLD=NEW")) var relocate: [String] = []
    @Option(name: .long, help: ArgumentHelp("A regular file the process had open that is gone: fail (default), recreate (an empty file at its old path, at the saved offset) or devnull; both with a warning.", valueName: "fail|recreate|devnull"))
    var missingFiles: RestoreOptions.MissingFiles = .fail
    @Flag(name: .long, help: "Exit once the processes run, leaving them behind (as criu restore -d); with a PID namespace of ours, its PID 1 stays and becomes their parent.")
    var detach = false
    @Flag(name: .long, help: "Bring established TCP connections back as closed sockets even where they could be repaired: the descriptor stays, the connection is gone (one that cannot be repaired comes back so anyway).") var tcpClose = false
    @Flag(name: .long, help: "Put the processes and threads back into the cgroups they were in (each hierarchy through a mount of it, or as root a private one; a cgroup that is gone is made again with its saved settings, and the empty ones below it). Default: they stay in cr_restart's cgroups, as in BLCR.")
    var manageCgroups = false
    @Option(name: .long, help: ArgumentHelp("With --manage-cgroups, make the image's cgroups under PATH in that hierarchy (without CONTROLLERS: every other one).", valueName: "[CONTROLLERS:]/PATH"))
    var cgroupRoot: [String] = []
    @Flag(name: .long, help: "Let the processes run before their private anonymous memory is in: its pages come on demand (userfaultfd) and in the background, from a regular-file image. Falls back to an eager restart, with a note, where this kernel or user cannot.")
    var lazy = false
    @Option(name: .long, help: ArgumentHelp("Where a restored network namespace's device meets cr_restart's namespace (CRIU's syntax): veth[IN]:OUT[@BRIDGE] names the other end of veth IN and puts it in BRIDGE, macvlan[IN]:LOWER makes macvlan IN on LOWER, netdev[IN]:OUT moves device OUT in as IN. Without it, an outside end gets the name and bridge it had.", valueName: "KIND[IN]:OUT")) var external: [String] = []
    @Option(name: .long, help: ArgumentHelp("Look for an incremental image's parent images in DIR first (by file name).", valueName: "DIR")) var parentDir: String?
    @Option(name: .long, help: "auto (BLCR's kernel module if loaded, else ptrace), ptrace, or kernel.") var backend: BackendChoice = .auto
    @Flag(exclusivity: .chooseLast) var omit: OmitFlag = .omitMaybe
    @Option(name: .long, help: ArgumentHelp("Run CMD (via system()) after a successful restart.", valueName: "CMD")) var runOnSuccess: String?
    @Option(name: .long, help: ArgumentHelp("Run CMD if the arguments are wrong or the context file cannot be opened.", valueName: "CMD")) var runOnFailArgs: String?
    @Option(name: .long, help: ArgumentHelp("Run CMD if the restart fails for a passing reason (ENOMEM, EBUSY).", valueName: "CMD")) var runOnFailTemp: String?
    @Option(name: .long, help: ArgumentHelp("Run CMD if the restart fails on its environment (EACCES, EPERM, ENOENT, EEXIST, EISDIR, ENOTDIR).", valueName: "CMD")) var runOnFailEnv: String?
    @Option(name: .long, help: ArgumentHelp("Run CMD on any other failure (a damaged context file among them).", valueName: "CMD")) var runOnFailPerm: String?
    @Option(name: .long, help: ArgumentHelp("Run CMD on any failure (all four --run-on-fail-* at once).", valueName: "CMD")) var runOnFailure: String?
    /// libcr's cr_request_restart: the restored process becomes the caller's child, and cr_restart leaves once it is restored.
    @Flag(name: .long, help: .hidden) var parentIsCaller = false
    @Flag(exclusivity: .chooseLast) var after: AfterFlag = .run
    @Option(name: [.customShort("S"), .long], help: "Send signal N after the restart.") var signal: Int32?
    @Flag(name: [.customShort("q"), .long], help: "No warnings.") var quiet = false
    @Flag(name: .long, help: "Report details on stderr.") var verbose = false
    @Argument(help: "The context file.") var contextFile: String?

    public init() {}

    public func validate() throws {
        let sources = [file != nil, fd != nil, contextFile != nil].filter { $0 }.count
        if sources == 0 { throw ValidationError("no context file given (FILE, --file or --fd)") }
        if sources > 1 { throw ValidationError("FILE, --file and --fd are mutually exclusive") }
        if let s = signal, !(1...64).contains(s) { throw ValidationError("signal \(s) is not between 1 and 64") }
        do { _ = try PathRelocation(arguments: relocate) } catch let e as RelocationError { throw ValidationError(e.description) }
        for root in cgroupRoot { do { _ = try CgroupRoot(parsing: root) } catch { throw ValidationError("\(error)") } }
        for e in external { do { _ = try ExternalLink(parsing: e) } catch { throw ValidationError("\(error)") } }
        if !cgroupRoot.isEmpty && !manageCgroups { throw ValidationError("--cgroup-root applies only with --manage-cgroups") }
    }

    /// Restores the process as our child, forwards signals to it, and exits
    /// as it exits (its code, or its signal re-raised without a core dump).
    public func run(tool: String) throws -> Never {
        // BLCR's failure hooks: their non-zero status becomes ours.
        func failed(_ e: CheckpointError, hook: String?) throws -> Never {
            guard let hook else { throw e }
            Output.error(tool, e.message)
            let status = Self.system(hook)
            Glibc.exit(status != 0 ? status : e.exitCode)
        }
        do {
            try restartAndWait(tool: tool)
        } catch let f as SourceFailure {
            try failed(f.error, hook: runOnFailArgs ?? runOnFailure)
        } catch let e as CheckpointError {
            try failed(e, hook: failureHook(for: e.code))
        }
    }

    /// The --run-on-fail-* hook for a failure once the source is open, as
    /// BLCR's failure() sorts errnos: temp, env, and everything else perm (a
    /// damaged context file's EINVAL too). Arguments and an unopenable
    /// source run --run-on-fail-args (BLCR's usage() and open()).
    func failureHook(for code: Int32) -> String? {
        let specific: String?
        switch code {
        case ENOMEM, EBUSY: specific = runOnFailTemp
        case EACCES, EPERM, ENOENT, EEXIST, EISDIR, ENOTDIR: specific = runOnFailEnv
        default: specific = runOnFailPerm
        }
        return specific ?? runOnFailure
    }

    /// A context file that cannot be opened: an argument failure (BLCR's open()).
    struct SourceFailure: Error { let error: CheckpointError }

    /// BLCR's usage(): a command line that does not parse runs
    /// --run-on-fail-args (or --run-on-failure), found in the raw arguments;
    /// its non-zero status becomes the exit code.
    public static func usageFailureHook(_ arguments: [String]) -> Int32? {
        var hooks: [String: String] = [:]
        var k = 0
        while k < arguments.count {
            let a = arguments[k]
            for name in ["--run-on-fail-args", "--run-on-failure"] {
                if a.hasPrefix(name + "=") { hooks[name] = String(a.dropFirst(name.count + 1)) }
                if a == name, k + 1 < arguments.count { hooks[name] = arguments[k + 1]; k += 1 }
            }
            k += 1
        }
        guard let command = hooks["--run-on-fail-args"] ?? hooks["--run-on-failure"] else { return nil }
        let status = system(command)
        return status != 0 ? status : nil
    }

    static func system(_ command: String) -> Int32 {
        let status = Glibc.system(command)
        guard status >= 0 else { return 1 }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    func restartAndWait(tool: String) throws -> Never {
        let log = Output.logger(tool, verbose: verbose)
        // What we were started with, before we open anything ourselves.
        let inherited = Set((try? Sys.numericEntries("/proc/self/fd")) ?? []).filter { $0 >= 3 && fcntl($0, F_GETFD) >= 0 }
        let engine = try backend.backend()
        let fd: Int32, path: String?
        do { (fd, path) = try openSource() } catch let e as CheckpointError { throw SourceFailure(error: e) }
        var options = RestoreOptions()
        options.inheritedDescriptors = inherited.subtracting([fd])
        options.restorePID = restorePid
        options.restorePGID = restorePgid
        options.allowNamespace = pidNamespace
        options.restoreSID = restoreSid
        options.closeTCP = tcpClose
        options.manageCgroups = manageCgroups
        options.cgroupRoots = cgroupRoot.compactMap { try? CgroupRoot(parsing: $0) }  // checked in validate()
        options.parentIsCaller = parentIsCaller
        if let p = path { options.sourcePath = p.hasPrefix("/") ? p : (Self.cwd() + "/" + p) }
        options.relocation = (try? PathRelocation(arguments: relocate)) ?? PathRelocation()  // checked in validate()
        options.missingFiles = missingFiles
        options.detach = detach
        options.lazy = lazy
        options.signalAfter = signal ?? after.signal
        options.parentDirectory = parentDir
        options.externalLinks = external.compactMap { try? ExternalLink(parsing: $0) }  // checked in validate()
        options.omitted = omit == .omitNever ? .refuse : omit == .omitAlways ? .quiet : .note
        if !quiet { options.notice = { Output.printErr("\(tool): \($0)") } }
        let bar = ProgressBar(label: "restart", enabled: !quiet)
        options.progress = { bar.update($0, $1) }
        // Forward from before the processes run: a signal meant for them must not kill us instead.
        options.beforeRunning = { eldest, pids in SignalForwarder.install(root: eldest, all: Array(pids.values)) }
        let restored = try engine.restore(from: fd, options: options, log: log)
        bar.finish()
        // A lazy restore still reads the image: it closes after the pager.
        if path != nil && restored.lazyPager == nil { close(fd) }
        if !quiet {
            for n in restored.notes { Output.printErr("\(tool): \(n)") }
            for w in restored.warnings { Output.warning(tool, w) }
        }
        if verbose {
            Output.printErr("\(tool): restored \(restored.command) as pid \(restored.pid) (was \(restored.originalPID)) in \(format3(restored.seconds)) s")
        }
        // Lazy: the processes run; their remaining pages come in now, faults first.
        var reapedRoot: Int32?
        if let pager = restored.lazyPager {
            let bytes = pager.waitingBytes
            let stats = pager.run()
            reapedRoot = pager.reaped[restored.pid]  // a user's lazy restore traced it, and reaped it if it ended
            if !quiet { for f in stats.failures { Output.warning(tool, f) } }
            if path != nil { close(fd) }
            if verbose {
                Output.printErr("\(tool): lazy: \(bytes >> 20) MiB came in \(format3(stats.seconds)) s after the processes started (\(stats.faults) faults, \(stats.sectionsCopied) sections, \(stats.forks) forks\(stats.refills > 0 ? ", \(stats.refills) processes filled early for the kernel (a system call that failed with EFAULT, issued again, or a caught signal)" : ""))")
            }
        }
        if let hook = runOnSuccess {
            let status = Self.system(hook)
            if status != 0 {
                Output.error(tool, "--run-on-success hook exited with \(status)")
                kill(restored.pid, SIGKILL)
                Glibc.exit(status)
            }
        }
        if detach {
            if !quiet { Output.printErr("\(tool): detached; \(restored.command) runs on as pid \(restored.pid)") }
            Glibc.exit(0)
        }
        // libcr's cr_request_restart: the caller is the process's parent and waits for it itself.
        if parentIsCaller && (try? ProcStat.read(pid: restored.pid))?.ppid == getppid() { Glibc.exit(0) }
        SignalForwarder.waitAndExit(restored.pid, reaped: reapedRoot)
    }

    static func cwd() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        return getcwd(&buffer, buffer.count) != nil ? String(cString: buffer) : "."
    }

    func openSource() throws -> (Int32, String?) {
        if let f = fd { return (f, nil) }
        // `-f -`: the image comes on standard input (a pipe, a socket).
        if file == "-" { return (0, nil) }
        let path = file ?? contextFile ?? ""
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw CheckpointError(errno: e, "cannot open \(path)")
        }
        return (fd, path)
    }
}

/// BLCR's cr_restart forwards every signal but CHLD, KILL, STOP, the
/// synchronous faults and CR_SIGNUM to the restarted process. Once that
/// process has exited after a HUP, INT, QUIT or TERM, that signal also goes
/// to every other restored process still running, so a job whose first process ended does
/// not leave the rest running as orphans. Those go through pidfds opened at
/// restart: a PID reused after one of them exited is never signalled.
enum SignalForwarder {
    nonisolated(unsafe) static var target: pid_t = 0
    nonisolated(unsafe) static var lastForwarded: Int32 = 0
    nonisolated(unsafe) static var others: [Int32] = []

    /// - Parameters: root: the process cr_restart waits for; all: every restored process.
    static func install(root: pid_t, all: [pid_t]) {
        target = root
        others = all.filter { $0 != root }.sorted().map { Int32(truncatingIfNeeded: Syscall.raw(NR.pidfd_open, Int($0), 0)) }.filter { $0 >= 0 }
        for fd in others { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let skip: Set<Int32> = [SIGCHLD, SIGKILL, SIGSTOP, SIGILL, SIGFPE, SIGBUS, SIGSEGV, SIGTRAP, 64]
        for sig in 1...64 where !skip.contains(Int32(sig)) && !(32...33).contains(sig) {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { s in
                SignalForwarder.lastForwarded = s
                kill(SignalForwarder.target, s)
                if s == SIGTSTP || s == SIGTTIN || s == SIGTTOU { raise(SIGSTOP) }
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(Int32(sig), &action, nil)
        }
    }

    /// The restarted process has exited after being told to end (HUP, INT,
    /// QUIT, TERM): the rest of the tree is told the same.
    static func passOnToTheRest() {
        let s = lastForwarded
        guard [SIGHUP, SIGINT, SIGQUIT, SIGTERM].contains(s) else { return }
        for fd in others { _ = Syscall.raw(NR.pidfdSendSignal, Int(fd), Int(s), 0, 0) }
    }

    /// - Parameter reaped: its status, if it was already reaped (while traced).
    static func waitAndExit(_ pid: pid_t, reaped: Int32? = nil) -> Never {
        var status: Int32 = reaped ?? 0
        while reaped == nil && waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { exit(1) }
        }
        passOnToTheRest()
        switch Ptrace.decodeExit(status) {
        case .code(let c): exit(c)
        case .signal(let s):
            var none = rlimit(rlim_cur: 0, rlim_max: 0)
            setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
            signal(s, SIG_DFL)
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, s)
            sigprocmask(SIG_UNBLOCK, &set, nil)
            raise(s)
            exit(128 + s)
        }
    }
}

extension RestoreOptions.MissingFiles: ExpressibleByArgument {}
