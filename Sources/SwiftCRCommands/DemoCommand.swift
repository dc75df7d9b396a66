import ArgumentParser
import Checkpoint
import Glibc

/// `swiftcr demo`: the main job, watchable. Starts a counter, checkpoints it
/// with cr_checkpoint --kill, shows the image, restarts it with cr_restart,
/// and checks that the count went on from where it was.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Checkpoint a running counter, kill it, restart it, watch it continue.")
    @Option(help: "Seconds to watch the counter before and after.") var seconds = 3
    @Option(help: "Directory for the context file (default: a new one under /tmp).") var dir: String?

    func run() throws {
        guard (1...60).contains(seconds) else { throw ValidationError("--seconds must be 1...60") }
        let workDir = try dir ?? makeTempDir()
        let counter = try Spawned([selfExecutable, "demo-counter"])
        say("started a counter, pid \(counter.pid); watching it for \(seconds) s")
        let before = try echo(counter, for: seconds)
        guard let last = before.last else { throw CheckpointError(EIO, "the counter printed nothing") }

        let image = "\(workDir)/context.\(counter.pid)"
        // A directory of our own goes when the demo ends; one the user named keeps the image.
        defer { if dir == nil { unlink(image); rmdir(workDir) } }
        try show(["cr_checkpoint", "-p", "--kill", "-f", image, String(counter.pid)])
        counter.wait()
        say("the counter (pid \(counter.pid)) is gone; its state is in \(image)")
        try show(["swiftcr", "inspect", image], firstLines: 8)

        let restorePID = getuid() == 0
        let argv = ["cr_restart"] + (restorePID ? [] : ["--no-restore-pid"]) + [image]
        print("$ " + argv.joined(separator: " "))
        fflush(nil)
        let restarted = try Spawned(Self.command(argv))
        let after = try echo(restarted, for: seconds)
        kill(restarted.pid, SIGTERM)  // cr_restart forwards it to the counter
        restarted.wait()
        guard let first = after.first else { throw CheckpointError(EIO, "the restarted counter printed nothing") }
        if first == last + 1 {
            say("PASS: the restarted counter went on from \(last) to \(first)")
        } else {
            say("FAIL: the counter stopped at \(last) and restarted at \(first)")
            throw ExitCode(1)
        }
    }

    /// A command line as shown, run by this binary (it is every tool: MultiCall).
    static func command(_ shown: [String]) -> [String] {
        guard let tool = shown.first else { return shown }
        return tool == "swiftcr" ? [selfExecutable] + shown.dropFirst() : [selfExecutable, tool] + shown.dropFirst()
    }

    func say(_ s: String) {
        print("== \(s)")
        fflush(nil)
    }

    /// Shows a command as a user would type it, runs it, requires success.
    func show(_ argv: [String], firstLines: Int? = nil) throws {
        print("$ " + argv.joined(separator: " "))
        fflush(nil)
        let p = try Spawned(Self.command(argv), captureOutput: firstLines != nil)
        if let n = firstLines {
            var text = ""
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let got = read(p.stdout, &buf, buf.count)
                if got <= 0 { break }
                text += String(decoding: buf[0..<got], as: UTF8.self)
            }
            for line in text.split(separator: "\n").prefix(n) { print("  \(line)") }
        }
        let status = p.wait()
        guard status == 0 else { throw CheckpointError(EIO, "\(argv[0]) failed (status \(status))") }
    }

    /// Echoes the counter's lines for a while; returns the counts seen.
    func echo(_ p: Spawned, for seconds: Int) throws -> [Int] {
        var counts: [Int] = []
        var pending = ""
        let deadline = ProgressBar.now + Double(seconds) + 0.5
        while ProgressBar.now < deadline {
            var pfd = pollfd(fd: p.stdout, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = read(p.stdout, &buf, buf.count)
            if n <= 0 { break }
            pending += String(decoding: buf[0..<n], as: UTF8.self)
            while let nl = pending.firstIndex(of: "\n") {
                let line = String(pending[..<nl])
                pending = String(pending[pending.index(after: nl)...])
                print("  | \(line)")
                if let c = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) { counts.append(c) }
            }
            fflush(nil)
        }
        return counts
    }

    func makeTempDir() throws -> String {
        var template = Array("/tmp/swiftcr-demo.XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CheckpointError(errno: errno, "mkdtemp") }
        return String(cString: p)
    }
}
