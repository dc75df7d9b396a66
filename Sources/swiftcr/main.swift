import SwiftCRCommands

MultiCall.main()
