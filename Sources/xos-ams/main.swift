import XOSTools

VOTools.run("xos-ams", Array(CommandLine.arguments.dropFirst()))
