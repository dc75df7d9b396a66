import ArgumentParser
import Checkpoint
import CheckpointImage
import Glibc
import LinuxKit

/// BLCR's scope flags; the last one given wins.
enum ScopeFlag: String, EnumerableFlag {
    case tree, pid, pgid, sid
    static func name(for value: ScopeFlag) -> NameSpecification {
        switch value {
        case .tree: return [.customShort("T"), .long]
        case .pid: return [.customShort("p"), .long, .customLong("process")]
        case .pgid: return [.customShort("g"), .long, .customLong("group")]
        case .sid: return [.customShort("s"), .long, .customLong("session")]
        }
    }
    static func help(for value: ScopeFlag) -> ArgumentHelp? {
        switch value {
        case .tree: return "The process and all its descendants (default)."
        case .pid: return "The single process ID."
        case .pgid: return "The process group ID."
        case .sid: return "The session ID."
        }
    }
    var scope: CheckpointOptions.Scope {
        switch self {
        case .tree: return .tree
        case .pid: return .process
        case .pgid: return .group
        case .sid: return .session
        }
    }
}

/// What happens to the process after the checkpoint (or restart); last wins.
enum AfterFlag: String, EnumerableFlag {
    case run, stop, term, abort, kill, cont
    static func name(for value: AfterFlag) -> NameSpecification {
        value == .stop ? [.long, .customLong("freeze")] : .long
    }
    static func help(for value: AfterFlag) -> ArgumentHelp? {
        switch value {
        case .run: return "Let it continue (default)."
        case .stop: return "Send SIGSTOP."
        case .term: return "Send SIGTERM."
        case .abort: return "Send SIGABRT."
        case .kill: return "Send SIGKILL."
        case .cont: return "Send SIGCONT."
        }
    }
    var signal: Int32 {
        switch self {
        case .run: return 0
        case .stop: return SIGSTOP
        case .term: return SIGTERM
        case .abort: return SIGABRT
        case .kill: return SIGKILL
        case .cont: return SIGCONT
        }
    }
}

enum PtracedFlag: String, EnumerableFlag {
    case ptracedError = "ptraced-error", ptracedSkip = "ptraced-skip", ptracedAllow = "ptraced-allow"
    static func name(for value: PtracedFlag) -> NameSpecification { .customLong(value.rawValue) }
    static func help(for value: PtracedFlag) -> ArgumentHelp? {
        switch value {
        case .ptracedError: return "Fail if a target is ptraced (default, CR_EPTRACED)."
        case .ptracedSkip: return "Leave ptraced targets out."
        case .ptracedAllow: return "Include ptraced targets (impossible with a ptrace engine: reported as an error)."
        }
    }
    var policy: CheckpointOptions.PtracePolicy { self == .ptracedError ? .error : self == .ptracedSkip ? .skip : .allow }
}

enum PtracerFlag: String, EnumerableFlag {
    case ptracerError = "ptracer-error", ptracerSkip = "ptracer-skip"
    static func name(for value: PtracerFlag) -> NameSpecification { .customLong(value.rawValue) }
    static func help(for value: PtracerFlag) -> ArgumentHelp? {
        value == .ptracerError ? "Fail if a target ptraces others (default, CR_EPTRACER)." : "Leave targets that ptrace others out."
    }
}

enum ReplaceFlag: String, EnumerableFlag {
    case atomic, clobber, noclobber
    static func help(for value: ReplaceFlag) -> ArgumentHelp? {
        switch value {
        case .atomic: return "Write a temporary file, rename it into place when complete (default)."
        case .clobber: return "Overwrite the file in place."
        case .noclobber: return "Fail if the file exists."
        }
    }
}

enum SyncFlag: String, EnumerableFlag {
    case sync, nosync
    static func help(for value: SyncFlag) -> ArgumentHelp? {
        value == .sync ? "fsync the file and its directory (default)." : "Do not fsync."
    }
}

extension BackendChoice: ExpressibleByArgument {}

/// BLCR's --save-* flags, applied left to right: --save-none clears, the others add.
enum SaveFlag: String, EnumerableFlag {
    case saveNone = "save-none", saveExe = "save-exe", savePrivate = "save-private", saveShared = "save-shared", saveAll = "save-all"
    static func name(for value: SaveFlag) -> NameSpecification { .customLong(value.rawValue) }
    static func help(for value: SaveFlag) -> ArgumentHelp? {
        switch value {
        case .saveNone: return "Save no file-mapped contents, only changed private pages (default)."
        case .saveExe: return "Also save the executable's mapped contents."
        case .savePrivate: return "Also save every private file mapping's contents."
        case .saveShared: return "Also save shared file mappings' contents."
        case .saveAll: return "Save all of the above, so a restart survives deleted or overwritten files."
        }
    }
    static func contents(_ flags: [SaveFlag]) -> CheckpointOptions.SaveContents {
        flags.reduce(into: []) { set, f in
            switch f {
            case .saveNone: set = []
            case .saveExe: set.insert(.executable)
            case .savePrivate: set.insert(.privateFiles)
            case .saveShared: set.insert(.sharedFiles)
            case .saveAll: set = [.executable, .privateFiles, .sharedFiles]
            }
        }
    }
}

/// BLCR's --kmsg-*: what to do with the engine's messages (BLCR's were the kernel's).
/// swiftcr prints its warnings with --kmsg-error (default) and --kmsg-warning, and drops them with --kmsg-none.
enum KmsgFlag: String, EnumerableFlag {
    case kmsgError = "kmsg-error", kmsgNone = "kmsg-none", kmsgWarning = "kmsg-warning"
    static func name(for value: KmsgFlag) -> NameSpecification { .customLong(value.rawValue) }
    static func help(for value: KmsgFlag) -> ArgumentHelp? {
        switch value {
        case .kmsgError: return "Report the checkpoint's messages (default)."
        case .kmsgNone: return "Do not report them."
        case .kmsgWarning: return "Report them as warnings."
        }
    }
}

/// The options of BLCR's cr_checkpoint, shared by `cr_checkpoint` and `swiftcr checkpoint`.
public struct CheckpointArguments: ParsableArguments {
    @Flag(exclusivity: .chooseLast) var scope: ScopeFlag = .tree
    @Flag(name: [.customShort("c"), .long], help: "Write ./context.ID in the current directory (default).") var cwd = false
    @Option(name: [.customShort("f"), .long], help: "Write the context to FILE (- for standard output).") var file: String?
    @Option(name: [.customShort("F"), .long], help: "Write the context to an open file descriptor.") var fd: Int32?
    @Option(name: [.customShort("d"), .long], help: "Write DIR/context.ID.") var dir: String?
    @Flag(exclusivity: .chooseLast) var replace: ReplaceFlag = .atomic
    @Flag(exclusivity: .chooseLast) var after: AfterFlag = .run
    @Option(name: [.customShort("S"), .long], help: "Send signal N after the checkpoint (overrides --run/--stop/...).") var signal: Int32?
    @Option(name: .long, help: ArgumentHelp("Keep an existing context file as NAME, or FILE.~N~ when given as --backup.", valueName: "NAME")) var backup: String?
    @Flag(exclusivity: .chooseLast) var kmsg: KmsgFlag = .kmsgError
    @Flag(exclusivity: .chooseLast) var sync: SyncFlag = .sync
    @Flag var save: [SaveFlag] = []
    @Flag(exclusivity: .chooseLast) var ptraced: PtracedFlag = .ptracedError
    @Flag(exclusivity: .chooseLast) var ptracer: PtracerFlag = .ptracerError
    @Option(name: [.customShort("t"), .long], help: "Seconds the processes' libcr callbacks may take (0: no limit).") var time: UInt32 = 0
    @Flag(name: .long, help: "Fail with CR_ENOSUPPORT (exit 52) if a process lacks libcr, as BLCR does.") var requireLibcr = false
    @Option(name: .long, help: .hidden) var requester: Int32?
    @Flag(name: .long, help: .hidden) var prohibitSelf = false
    @Option(name: .long, help: "auto (BLCR's kernel module if loaded, else ptrace), ptrace, or kernel.") var backend: BackendChoice = .auto
    @Flag(name: .long, help: "Do not read the image back and check it before giving it its final name.") var noVerify = false
    @Option(name: .long, help: ArgumentHelp("Save cgroups as seen from PATH in that hierarchy (without CONTROLLERS: every other one); cr_restart --cgroup-root says where they go.", valueName: "[CONTROLLERS:]/PATH"))
    var cgroupRoot: [String] = []
    @Flag(name: .long, help: "Save memory while the processes run on (frozen only while the rest is read) and track their writes from then on: a parent for --parent, never restarted itself.") var preDump = false
    @Option(name: .long, help: ArgumentHelp("Incremental: save only the pages written since FILE (a --pre-dump or an earlier incremental image of this process).", valueName: "FILE")) var parent: String?
    @Flag(name: .long, help: "Take the write tracking out of the processes after this checkpoint.") var stopTracking = false
    @Option(name: .long, help: ArgumentHelp("Compress page data with zstd at LEVEL (--compress alone: 1, the fastest; up to 19).", valueName: "LEVEL")) var compress: Int32?
    @Flag(name: [.customShort("q"), .long], help: "No progress bar, no warnings.") var quiet = false
    @Flag(name: [.customShort("v"), .long], help: "Report details.") var verbose = false
    @Flag(name: .long, help: "Print what was saved, and for how long the processes were frozen, as JSON on standard output.") var json = false
    @Argument(help: "ID of the process (or group, session, tree root).") var id: Int32

    public init() {}

    /// `--backup` without a value (BLCR's optional argument) arrives as this.
    static let numberedBackup = "\u{1}numbered"

    /// BLCR's `--backup[=NAME]`: a bare --backup gets the numbered form;
    /// a bare --compress, level 1.
    public static func blcrArguments(_ args: [String]) -> [String] {
        args.map { $0 == "--backup" ? "--backup=\(numberedBackup)" : $0 == "--compress" ? "--compress=1" : $0 }
    }

    public func validate() throws {
        let destinations = [cwd, file != nil, fd != nil, dir != nil].filter { $0 }.count
        if destinations > 1 { throw ValidationError("--cwd, --file, --fd and --dir are mutually exclusive") }
        if fd != nil && replace != .atomic { throw ValidationError("--\(replace.rawValue) does not apply to --fd") }
        if fd != nil && backup != nil { throw ValidationError("--backup does not apply to --fd") }
        if replace == .noclobber && backup != nil { throw ValidationError("--backup and --noclobber contradict each other") }
        if let s = signal, !(1...64).contains(s) { throw ValidationError("signal \(s) is not between 1 and 64") }
        if id <= 0 { throw ValidationError("ID must be a positive process ID, not \(id)") }
        if let level = compress, !PageCompressor.levels.contains(level) || level == 0 {
            throw ValidationError("--compress takes a zstd level from 1 to \(PageCompressor.levels.upperBound) (or a negative one for faster), not \(level)")
        }
        if file == "-" && json { throw ValidationError("--json prints on standard output, where -f - writes the image") }
        for root in cgroupRoot { do { _ = try CgroupRoot(parsing: root) } catch { throw ValidationError("\(error)") } }
        if preDump && (after != .run || signal != nil) { throw ValidationError("--pre-dump lets the processes run on: it takes no --kill, --term, --stop or --signal") }
    }

    var destinationPath: String? {
        if fd != nil || file == "-" { return nil }
        if let f = file { return f }
        if let d = dir { return "\(d)/context.\(id)" }
        return "context.\(id)"
    }

    /// Runs the checkpoint and prints BLCR-style results.
    public func run(tool: String) throws {
        let log = Output.logger(tool, verbose: verbose)
        let engine = try backend.backend()  // before any file is made
        let destination: ImageDestination
        if let f = fd ?? (file == "-" ? 1 : nil) {
            // -F FD, or `-f -`: standard output (a pipe, a socket).
            destination = DescriptorDestination(fd: f, sync: sync == .sync)
        } else {
            let mode: ReplaceMode = replace == .clobber ? .clobber : replace == .noclobber ? .noclobber : .atomic
            destination = try AtomicFile(path: destinationPath ?? "context.\(id)", mode: mode, sync: sync == .sync,
                                         backup: backup.map { $0 == Self.numberedBackup ? "" : $0 })
        }
        var options = CheckpointOptions(pid: id)
        options.scope = scope.scope
        options.signalAfter = signal ?? after.signal
        options.ptraced = ptraced.policy
        options.ptracer = ptracer == .ptracerError ? .error : .skip
        options.save = SaveFlag.contents(save)
        options.requireLibcr = requireLibcr
        options.verifyImage = !noVerify
        options.cgroupRoots = cgroupRoot.compactMap { try? CgroupRoot(parsing: $0) }  // checked in validate()
        options.timeLimit = time == 0 ? nil : Double(time)
        if let r = requester { options.requester = r }
        options.prohibitSelf = prohibitSelf
        options.preDump = preDump
        options.parentPath = parent
        options.stopTracking = stopTracking
        options.compressLevel = compress
        // Callbacks see where the image goes (cr_get_checkpoint_info()->dest): for -F, the file behind the fd, as BLCR's kernel names it.
        options.destinationDescription = destinationPath.map { $0.hasPrefix("/") ? $0 : RestartArguments.cwd() + "/" + $0 }
            ?? fd.flatMap { try? String(decoding: Sys.readLink("/proc/self/fd/\($0)"), as: UTF8.self) } ?? ""
        let bar = ProgressBar(label: "checkpoint \(id)", enabled: !quiet)
        options.progress = { bar.update($0, $1) }
        let summary = try TerminationGuard.run { try engine.checkpoint(options, to: destination, log: log) }
        bar.finish()
        if !quiet && kmsg != .kmsgNone { for w in summary.warnings { Output.warning(tool, w) } }
        if verbose {
            let fromParent = parent != nil ? ", \(summary.parentPages) pages left to the parent" : ""
            Output.printErr("\(tool): pid \(id): \(summary.savedPages) pages saved, \(summary.zeroPages) zero pages skipped\(fromParent), \(summary.imageBytes) bytes written to \(destinationPath ?? "fd \(fd ?? -1)"), frozen \(String(format3(summary.frozenSeconds))) s, verified in \(String(format3(summary.verifySeconds))) s")
        }
        if json {
            let value = JSONValue.object([
                ("pid", .int(Int64(id))), ("image", .optional(destinationPath)), ("image_bytes", .uint(summary.imageBytes)),
                ("saved_pages", .uint(summary.savedPages)), ("zero_pages", .uint(summary.zeroPages)),
                ("parent_pages", .uint(summary.parentPages)), ("pre_dump", .bool(preDump)), ("parent", .optional(parent)),
                ("processes", .int(Int64(summary.processes))), ("frozen_seconds", .number(summary.frozenSeconds)),
                ("verify_seconds", .number(summary.verifySeconds)), ("warnings", .array(summary.warnings.map { .string($0) })),
            ])
            print(value.rendered())
        }
    }
}

func format3(_ x: Double) -> String {
    let v = (x * 1000).rounded() / 1000
    return "\(v)"
}

/// While a target is frozen with injected state, this process must not die
/// half way: a closed pipe becomes EPIPE, a file size limit EFBIG, and
/// Ctrl-C, TERM, HUP and QUIT wait until the target has been let go.
enum TerminationGuard {
    static func run<T>(_ body: () throws -> T) throws -> T {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
        var block = sigset_t(), old = sigset_t()
        sigemptyset(&block)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&block, s) }
        sigprocmask(SIG_BLOCK, &block, &old)
        defer { sigprocmask(SIG_SETMASK, &old, nil) }
        return try body()
    }
}
