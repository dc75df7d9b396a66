import ArgumentParser
import Checkpoint
import Glibc
import Logging

/// Plain, scriptable output: results on stdout, one-line errors on stderr.
public enum Output {
    public static func error(_ tool: String, _ message: String) {
        printErr("\(tool): \(message)")
    }

    public static func warning(_ tool: String, _ message: String) {
        printErr("\(tool): warning: \(message)")
    }

    public static func printErr(_ s: String) {
        let line = s + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// swift-log to stderr; `verbose` shows the engine's debug lines.
    public static func logger(_ tool: String, verbose: Bool) -> Logger {
        var log = Logger(label: tool) { label in StderrLogHandler(label: label) }
        log.logLevel = verbose ? .debug : .warning
        return log
    }
}

struct StderrLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .warning
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        Output.printErr("\(label): \(event.level): \(event.message)")
    }
}

/// A libcr request (cr_request_checkpoint) runs the tool with a pipe in
/// SWIFTCR_RESULT_FD: the whole error code goes there, since an exit status
/// keeps only its low 8 bits (a callback's code 911 would arrive as 143).
func reportWholeCode(_ code: Int32) {
    guard let text = getenv("SWIFTCR_RESULT_FD"), let fd = Int32(String(cString: text)), fd > 2 else { return }
    let line = "\(code)\n"
    _ = line.withCString { write(fd, $0, strlen($0)) }
}

/// Runs a command with BLCR's exit codes: 0 on success, `errno & 0xFF` on a
/// failure, 255 on a usage error; help and version exit 0.
public enum ToolMain {
    public static func run<C: ParsableCommand>(_ type: C.Type, tool: String, arguments: [String]? = nil,
                                               usageHook: (([String]) -> Int32?)? = nil) -> Never {
        do {
            var command = try type.parseAsRoot(arguments)
            try command.run()
            exit(0)
        } catch let e as CheckpointError {
            Output.error(tool, e.message)
            reportWholeCode(e.code)
            exit(e.exitCode)
        } catch let e as ExitCode {
            exit(e.rawValue)
        } catch {
            let code = type.exitCode(for: error)
            if code == .success {
                type.exit(withError: error)
            }
            if let status = usageHook?(arguments ?? Array(CommandLine.arguments.dropFirst())) { exit(status) }
            Output.error(tool, type.message(for: error))
            Output.printErr("Try '\(tool) --help' for more information.")
            exit(255)
        }
    }
}
