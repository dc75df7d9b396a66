import ArgumentParser
import Checkpoint

/// The umbrella command.
public struct SwiftCR: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "swiftcr",
        abstract: "Checkpoint and restart Linux processes with ptrace (BLCR-compatible).",
        version: "swiftcr \(SwiftCRVersion.number)",
        subcommands: [CheckpointSubcommand.self, RestartSubcommand.self, InspectCommand.self, CheckCommand.self,
                      DemoCommand.self, BenchCommand.self, DemoCounter.self, BenchTarget.self, ManPages.self, VerifyCommand.self, DiffCommand.self, CoreCommand.self])
    public init() {}
}

struct CheckpointSubcommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "checkpoint", abstract: "Checkpoint a process (cr_checkpoint).")
    @OptionGroup var options: CheckpointArguments
    func run() throws { try options.run(tool: "swiftcr checkpoint") }
}

struct RestartSubcommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart a process from an image (cr_restart).")
    @OptionGroup var options: RestartArguments
    func run() throws { try options.run(tool: "swiftcr restart") }
}
