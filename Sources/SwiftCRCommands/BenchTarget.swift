import ArgumentParser
struct BenchTarget: ParsableCommand { func run() throws {} }
