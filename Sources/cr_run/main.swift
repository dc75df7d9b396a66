import SwiftCRCommands
ToolMain.run(CRRun.self, tool: "cr_run")
