import XOSTools

VOTools.run("xos-ca", Array(CommandLine.arguments.dropFirst()))
