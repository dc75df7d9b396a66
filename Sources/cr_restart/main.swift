import SwiftCRCommands

ToolMain.run(CRRestart.self, tool: "cr_restart", arguments: blcrRestartArguments(Array(CommandLine.arguments.dropFirst())),
             usageHook: RestartArguments.usageFailureHook)
