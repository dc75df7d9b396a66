import Glibc

/// One binary for every tool: `swiftcr` is also cr_checkpoint, cr_restart and
/// cr_run when run under those names (the installed links), or when the
/// tool's name is its first argument (`swiftcr cr_restart FILE`), as busybox is.
public enum MultiCall {
    /// The names the binary answers to besides its own.
    public static let tools = ["cr_checkpoint", "cr_restart", "cr_run"]

    public static func main(_ argv: [String] = CommandLine.arguments) -> Never {
        // The Swift runtime reads the arguments from /proc/self/cmdline: with no
        // /proc there are none, and every process swiftcr works on is out of reach too.
        if argv.isEmpty {
            Output.error("swiftcr", "/proc is not mounted here (swiftcr reads its own arguments and every process through it)")
            exit(ENOENT)
        }
        let called = argv.first.map { String($0.split(separator: "/").last ?? "") } ?? "swiftcr"
        if tools.contains(called) { run(called, Array(argv.dropFirst())) }
        if argv.count > 1, tools.contains(argv[1]) { run(argv[1], Array(argv.dropFirst(2))) }
        // `swiftcr checkpoint` takes BLCR's optional-value options as cr_checkpoint does.
        if argv.count > 1, argv[1] == "checkpoint" {
            ToolMain.run(SwiftCR.self, tool: "swiftcr", arguments: ["checkpoint"] + CheckpointArguments.blcrArguments(Array(argv.dropFirst(2))))
        }
        ToolMain.run(SwiftCR.self, tool: "swiftcr")
    }

    static func run(_ tool: String, _ arguments: [String]) -> Never {
        switch tool {
        case "cr_checkpoint":
            ToolMain.run(CRCheckpoint.self, tool: tool, arguments: CheckpointArguments.blcrArguments(arguments))
        case "cr_restart":
            ToolMain.run(CRRestart.self, tool: tool, arguments: blcrRestartArguments(arguments), usageHook: RestartArguments.usageFailureHook)
        default:
            ToolMain.run(CRRun.self, tool: tool, arguments: arguments)
        }
    }
}
