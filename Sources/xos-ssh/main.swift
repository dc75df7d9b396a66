import XOSTools

VOTools.run("xos-ssh", Array(CommandLine.arguments.dropFirst()))
