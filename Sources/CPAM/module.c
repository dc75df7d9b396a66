// Intentionally empty: SwiftPM needs a source file for the CPAM target.
