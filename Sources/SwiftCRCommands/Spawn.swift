import Glibc
import LinuxKit

/// A child process with its stdout on a pipe, for the demo and the benchmark.
struct Spawned {
    let pid: pid_t
    let stdout: Int32

    init(_ argv: [String], captureOutput: Bool = true, quietErrors: Bool = false, quietOutput: Bool = false) throws {
        var fds: [Int32] = [-1, -1]
        if captureOutput {
            guard pipe(&fds) == 0 else { throw SpawnError("pipe: \(errorText(errno))") }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if quietErrors { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
        if quietOutput { posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0) }
        if captureOutput {
            posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
            posix_spawn_file_actions_addclose(&actions, fds[1])
        }
        var args = argv.map { strdup($0) } + [nil]
        defer { args.forEach { free($0) } }
        var pid: pid_t = 0
        let r = posix_spawn(&pid, argv[0], &actions, nil, &args, environ)
        if captureOutput { close(fds[1]) }
        guard r == 0 else { throw SpawnError("cannot run \(argv[0]): \(errorText(r))") }
        self.pid = pid
        self.stdout = fds[0]
    }

    /// Reads stdout until a line starting with `prefix`; returns that line.
    func waitForLine(_ prefix: String, timeout: Double = 60) throws -> String {
        var text = ""
        let deadline = ProgressBar.now + timeout
        while ProgressBar.now < deadline {
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line) }
            var pfd = pollfd(fd: stdout, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 200) >= 0 else { continue }
            if pfd.revents == 0 { continue }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = read(stdout, &buf, buf.count)
            if n <= 0 { break }
            text += String(decoding: buf[0..<n], as: UTF8.self)
        }
        throw SpawnError("\(pid) never printed \(prefix)")
    }

    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if stdout >= 0 { close(stdout) }
        return status
    }

    func kill() {
        Glibc.kill(pid, SIGKILL)
        wait()
    }
}

struct SpawnError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// This executable's path, to run its hidden helper subcommands.
var selfExecutable: String {
    (try? String(decoding: readLinkBytes("/proc/self/exe"), as: UTF8.self)) ?? CommandLine.arguments[0]
}

func readLinkBytes(_ path: String) throws -> [UInt8] {
    var buf = [UInt8](repeating: 0, count: 4096)
    let n = buf.withUnsafeMutableBufferPointer { b in
        b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { readlink(path, $0, b.count) }
    }
    guard n > 0 else { throw SpawnError("readlink \(path)") }
    return Array(buf[0..<n])
}

/// Finds a program on PATH.
func which(_ name: String) -> String? {
    for dir in (String(cString: getenv("PATH") ?? strdup("/usr/bin:/bin"))).split(separator: ":") {
        let p = "\(dir)/\(name)"
        if access(p, X_OK) == 0 { return p }
    }
    return nil
}
