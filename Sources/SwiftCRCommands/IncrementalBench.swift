import Checkpoint
import Glibc
import Logging

/// `swiftcr bench --incremental SIZE:REWRITE`: how long a SIZE MiB process
/// is frozen by a full checkpoint, by a pre-dump, and by an incremental
/// checkpoint after it rewrote REWRITE MiB of random pages; with the wall
/// time and the bytes written. Medians of `runs`.
struct IncrementalBench {
    let size: Int, rewrite: Int, dir: String, runs: Int

    struct Figure { var frozen: [Double] = [], wall: [Double] = [], bytes: [UInt64] = [] }

    func run() throws {
        let target = try Spawned([selfExecutable, "bench-target", String(size), "--rewrite", String(rewrite)])
        defer { target.kill() }
        _ = try target.waitForLine("READY")
        let log = Output.logger("swiftcr bench", verbose: false)
        let base = "\(dir)/swiftcr-bench.base", next = "\(dir)/swiftcr-bench.next", full = "\(dir)/swiftcr-bench.full"
        defer { unlink(base); unlink(next); unlink(full) }
        func checkpoint(_ path: String, _ figure: inout Figure, _ configure: (inout CheckpointOptions) -> Void) throws {
            var options = CheckpointOptions(pid: target.pid)
            configure(&options)
            var summary: CheckpointSummary?
            let wall = try benchTimed {
                let dest = try AtomicFile(path: path, mode: .clobber, sync: false)
                summary = try Checkpointer.checkpoint(options, to: dest, log: log)
            }
            figure.frozen.append(summary?.frozenSeconds ?? 0)
            figure.wall.append(wall)
            figure.bytes.append(summary?.imageBytes ?? 0)
        }
        var fulls = Figure(), pres = Figure(), incrementals = Figure()
        for _ in 0..<runs {
            try checkpoint(full, &fulls) { _ in }
            unlink(full)
        }
        try checkpoint(base, &pres) { $0.preDump = true }
        for _ in 0..<runs {
            kill(target.pid, SIGUSR1)
            _ = try target.waitForLine("REWROTE")
            try checkpoint(next, &incrementals) { $0.parentPath = base }
            rename(next, base)
        }
        print("")
        print("incremental: a \(size) MiB process rewriting \(rewrite) MiB of random pages between checkpoints (medians of \(runs); pre-dump once)")
        print("kind          frozen_ms  wall_ms  image_mib")
        for (name, f) in [("full", fulls), ("pre-dump", pres), ("incremental", incrementals)] {
            func ms(_ xs: [Double]) -> String { BenchCommand.median(xs).map { String(Int(($0 * 1000).rounded())) } ?? "-" }
            let mib = f.bytes.sorted()[f.bytes.count / 2] >> 20
            print([name.padding(12), ms(f.frozen).padding(9, left: true), ms(f.wall).padding(7, left: true), String(mib).padding(9, left: true)].joined(separator: "  "))
        }
        fflush(nil)
    }
}
