import ArgumentParser
struct CheckCommand: ParsableCommand { func run() throws {} }
