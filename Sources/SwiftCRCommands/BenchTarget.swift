import ArgumentParser
import Glibc

/// Hidden: the process the benchmark checkpoints. It fills SIZE MiB with
/// non-zero, page-distinct data, prints READY, and sleeps until killed.
struct BenchTarget: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-target", shouldDisplay: false)
    @Argument var mebibytes: Int
    @Option(help: "Extra threads, each sleeping in pause().") var threads = 0
    @Option(help: "Child processes (each a bench-target of the same size), making a tree.") var children = 0
    @Option(help: "Extra one-page mappings (alternately writable and read-only, so none merge).") var mappings = 0
    @Option(help: "Extra descriptors, each its own open of /dev/null.") var fds = 0
    @Option(help: "On each SIGUSR1, rewrite this many MiB of random pages, then print REWROTE.") var rewrite = 0

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
        guard (0...60000).contains(mappings), (0...60000).contains(fds) else { throw ValidationError("--mappings and --fds must be 0...60000") }
        if mappings > 0 {
            guard let m = mmap(nil, mappings * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), m != MAP_FAILED else {
                throw ValidationError("cannot map \(mappings) pages")
            }
            for k in 0..<mappings {
                (m + k * 4096).storeBytes(of: UInt64(k) | 1, as: UInt64.self)
                if k % 2 == 1 { mprotect(m + k * 4096, 4096, PROT_READ) }
            }
        }
        for _ in 0..<fds where open("/dev/null", O_RDONLY) < 0 { throw ValidationError("cannot open \(fds) files") }
        guard (0...100).contains(children) else { throw ValidationError("--children must be 0...100") }
        for _ in 0..<children {
            _ = try Spawned([selfExecutable, "bench-target", String(mebibytes)], captureOutput: false, quietOutput: true)
        }
        if children > 0 { usleep(500_000) }  // let them fill their memory
        var usr1 = sigset_t()
        sigemptyset(&usr1)
        sigaddset(&usr1, SIGUSR1)
        if rewrite > 0 { sigprocmask(SIG_BLOCK, &usr1, nil) }
        print("READY \(getpid())")
        fflush(nil)
        guard rewrite > 0 else { while true { pause() } }
        // Each round writes other pages (a new seed), each page in full.
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        let pages = size / 4096
        while true {
            var sig: Int32 = 0
            sigwait(&usr1, &sig)
            for _ in 0..<(rewrite << 20 / 4096) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let page = Int(state >> 33) % pages
                let at = words + page * 512
                for k in 0..<512 { at[k] = state &+ UInt64(k) | 1 }
            }
            print("REWROTE")
            fflush(nil)
        }
    }
}
