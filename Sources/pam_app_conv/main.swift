import XOSTools

VOTools.run("pam_app_conv", Array(CommandLine.arguments.dropFirst()))
