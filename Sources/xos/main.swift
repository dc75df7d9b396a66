import XOSTools

VOTools.main()
