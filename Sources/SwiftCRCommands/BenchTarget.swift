import ArgumentParser
import Glibc

/// Hidden: the process the benchmark checkpoints. It fills SIZE MiB with
/// non-zero, page-distinct data, prints READY, and sleeps until killed.
struct BenchTarget: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-target", shouldDisplay: false)
    @Argument var mebibytes: Int
    @Option(help: "Extra threads, each sleeping in pause().") var threads = 0
    @Option(help: "Child processes (each a bench-target of the same size), making a tree.") var children = 0

    func run() throws {
        let size = mebibytes << 20
        guard size > 0, let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            throw ValidationError("cannot allocate \(mebibytes) MiB")
        }
        let words = p.assumingMemoryBound(to: UInt64.self)
        for i in 0..<(size / 8) { words[i] = UInt64(i) &* 0x9E37_79B9_7F4A_7C15 | 1 }
        guard (0...1024).contains(threads) else { throw ValidationError("--threads must be 0...1024") }
        for _ in 0..<threads {
            var t = pthread_t()
            guard pthread_create(&t, nil, { _ in while true { pause() } }, nil) == 0 else { throw ValidationError("pthread_create failed") }
        }
        guard (0...100).contains(children) else { throw ValidationError("--children must be 0...100") }
        for _ in 0..<children {
            _ = try Spawned([selfExecutable, "bench-target", String(mebibytes)], captureOutput: false, quietOutput: true)
        }
        if children > 0 { usleep(500_000) }  // let them fill their memory
        print("READY \(getpid())")
        fflush(nil)
        while true { pause() }
    }
}
