import SwiftCRCommands

ToolMain.run(SwiftCR.self, tool: "swiftcr")
