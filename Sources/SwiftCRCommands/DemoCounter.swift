import ArgumentParser
struct DemoCounter: ParsableCommand { func run() throws {} }
