import ArgumentParser
import Checkpoint
import Glibc

/// cr_run [--omit | --run] [--] PROG ARGS...: runs PROG with libcr preloaded
/// (libcr_run.so, or libcr_omit.so whose agent asks to be left out), keeping
/// any LD_PRELOAD already set, as BLCR's cr_run does.
public struct CRRun: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cr_run", abstract: "Run a program with checkpoint support (libcr) preloaded.",
        version: "swiftcr 0.1.0 (BLCR 0.8.6 compatible)")

    @Flag(name: .long, help: "Preload the omit library: checkpoints leave this program out.") var omit = false
    @Flag(name: .customLong("run"), help: "Preload the run library (default).") var runLibrary = false
    @Argument(parsing: .captureForPassthrough, help: "The program and its arguments.") var command: [String] = []

    public init() {}

    public func validate() throws {
        if omit && runLibrary { throw ValidationError("--omit and --run are mutually exclusive") }
        if command.filter({ $0 != "--" }).isEmpty { throw ValidationError("no program given") }
    }

    public func run() throws {
        let argv = command.first == "--" ? Array(command.dropFirst()) : command
        let name = omit ? "libcr_omit.so" : "libcr_run.so"
        // A build directory has only libcr.so: preload it, told by the environment to omit.
        guard let library = Self.locate(name) ?? Self.locate("libcr.so") else {
            throw CheckpointError(ENOENT, "cannot find \(name) (or libcr.so) next to cr_run or in ../lib")
        }
        if omit && library.hasSuffix("/libcr.so") { setenv("SWIFTCR_LIBCR_OMIT", "1", 1) }
        let existing = getenv("LD_PRELOAD").map { String(cString: $0) } ?? ""
        setenv("LD_PRELOAD", existing.isEmpty ? library : library + " " + existing, 1)
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
