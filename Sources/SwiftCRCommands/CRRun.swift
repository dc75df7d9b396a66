import ArgumentParser
import Checkpoint
import Glibc

/// cr_run [--omit | --run] [--] PROG ARGS...: runs PROG with libcr preloaded
/// (libcr_run.so, or libcr_omit.so whose agent asks to be left out), keeping
/// any LD_PRELOAD already set, as BLCR's cr_run script does (its options,
/// --help and --version included, are read the same way).
public struct CRRun: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cr_run", abstract: "Run a program with checkpoint support (libcr) preloaded.",
        discussion: """
            Options, read up to the program (or --), as BLCR's cr_run reads them:
              --omit          exclude the program from checkpoints (libcr_omit.so).
              --run           negates --omit (the default; the later of the two wins).
              -?, --help      print the usage; --version prints the version.
            """,
        version: SwiftCRVersion.blcrTools)

    @Argument(parsing: .captureForPassthrough, help: "[--omit | --run] [--] PROG ARGS...: the options, then the program and its arguments.")
    var arguments: [String] = []

    public init() {}

    /// BLCR's cr_run options, read as its script reads them: up to the
    /// first argument that is not one (or `--`); of --omit and --run the later wins.
    struct Options: Equatable {
        var omit = false
        var command: [String] = []
        enum Early: Equatable { case help, version }
        var early: Early?
    }

    static func parse(_ arguments: [String]) -> Options {
        var o = Options()
        var rest = arguments[...]
        loop: while let a = rest.first {
            switch a {
            case "--help", "-?", "-h": o.early = .help; break loop
            case "--version": o.early = .version; break loop
            case "--omit": o.omit = true
            case "--run": o.omit = false
            case "--": rest = rest.dropFirst(); break loop
            default: break loop
            }
            rest = rest.dropFirst()
        }
        o.command = Array(rest)
        return o
    }

    static let usage = """
        usage: cr_run [--omit | --run] [--] PROG [ARGS...]
        Runs PROG with checkpoint support (libcr) preloaded.
        Options:
          -?, --help      print this help message.
              --version   print version information.
              --          ends option processing.
              --omit      exclude the program from checkpoints.
              --run       negates --omit (the default).
        """

    public func validate() throws {
        let o = Self.parse(arguments)
        if o.early == nil && o.command.isEmpty { throw ValidationError("no program given") }
    }

    public func run() throws {
        let o = Self.parse(arguments)
        switch o.early {
        case .help:
            print(Self.usage)
            return
        case .version:
            print("cr_run: version \(Self.configuration.version)")
            return
        case nil: break
        }
        let (omit, argv) = (o.omit, o.command)
        let name = omit ? "libcr_omit.so" : "libcr_run.so"
        // A build directory has only libcr.so: preload it, told by the environment to omit.
        guard let library = Self.locate(name) ?? Self.locate("libcr.so") else {
            throw CheckpointError(ENOENT, "cannot find \(name) (or libcr.so) next to cr_run or in ../lib")
        }
        if omit && library.hasSuffix("/libcr.so") { setenv("SWIFTCR_LIBCR_OMIT", "1", 1) } else { unsetenv("SWIFTCR_LIBCR_OMIT") }
        // As BLCR's: ours first, an earlier cr_run's libcr_run/libcr_omit left out.
        let existing = (getenv("LD_PRELOAD").map { String(cString: $0) } ?? "")
            .split(whereSeparator: { $0 == ":" || $0 == " " })
            .filter { e in !["libcr_run.so", "libcr_omit.so"].contains(where: { e.split(separator: "/").last?.hasPrefix($0) == true }) }
        setenv("LD_PRELOAD", ([library] + existing.map(String.init)).joined(separator: ":"), 1)
        let cArgs = argv.map { strdup($0) } + [nil]
        execvp(argv[0], cArgs)
        throw CheckpointError(errno: errno, "cannot run \(argv[0])")
    }

    /// The library next to this executable (a build directory) or in ../lib (an installation).
    static func locate(_ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let dir = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return ["\(dir)/\(name)", "\(dir)/../lib/\(name)"].first { access($0, R_OK) == 0 }
    }
}
