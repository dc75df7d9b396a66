import SwiftCRCommands

ToolMain.run(CRCheckpoint.self, tool: "cr_checkpoint")
