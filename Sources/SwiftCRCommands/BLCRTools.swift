import ArgumentParser
import Checkpoint

/// `cr_checkpoint`, BLCR's name and options.
public struct CRCheckpoint: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cr_checkpoint",
        abstract: "Checkpoint a process (or tree, group, session) to a context file.",
        discussion: "Exit status: 0 on success, else errno & 0xFF (ESRCH 3, EPERM 1, CR_ETEMPFAIL 50...), 255 for usage errors.",
        version: SwiftCRVersion.blcrTools)
    @OptionGroup var options: CheckpointArguments
    public init() {}
    public func run() throws { try options.run(tool: "cr_checkpoint") }
}

/// `cr_restart`, BLCR's name and options.
public struct CRRestart: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cr_restart",
        abstract: "Restart a process from a context file; exits as the restarted process exits.",
        version: SwiftCRVersion.blcrTools)
    @OptionGroup var options: RestartArguments
    public init() {}
    public func run() throws { try options.run(tool: "cr_restart") }
}

/// BLCR's cr_restart takes -v for --version.
public func blcrRestartArguments(_ args: [String]) -> [String] {
    args.map { $0 == "-v" ? "--version" : $0 }
}
