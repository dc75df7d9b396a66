import ArgumentParser
struct BenchCommand: ParsableCommand { func run() throws {} }
