import SwiftCRCommands

ToolMain.run(CRCheckpoint.self, tool: "cr_checkpoint", arguments: CheckpointArguments.blcrArguments(Array(CommandLine.arguments.dropFirst())))
