import Glibc
import XCTest

/// A spawned program with its stdin, and stdout+stderr merged, on pipes.
/// Every wait has a deadline so a broken restore fails a test, never hangs it.
final class Child {
    let pid: pid_t
    let stdin: Int32
    let stdout: Int32
    private(set) var output = ""
    private var status: Int32?

    init(_ argv: [String], user: TestUser? = nil, cwd: String? = nil) throws {
        // setpriv and env exec in place, so the PID stays the program's.
        let full = (user.map { ["/usr/bin/setpriv", "--reuid=\($0.uid)", "--regid=\($0.gid)", "--clear-groups", "--"] } ?? [])
            + (cwd.map { ["/usr/bin/env", "-C", $0] } ?? []) + argv
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0 else { throw TestFailure("pipe") }
        for fd in inPipe + outPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Children start with default signal dispositions and an empty mask.
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var cargs = full.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var p: pid_t = 0
        let r = posix_spawn(&p, full[0], &actions, &attr, &cargs, environ)
        close(inPipe[0])
        close(outPipe[1])
        guard r == 0 else { throw TestFailure("spawn \(full[0]): \(String(cString: strerror(r)))") }
        pid = p
        stdin = inPipe[1]
        stdout = outPipe[0]
    }

    deinit {
        if status == nil { kill(pid, SIGKILL); _ = wait(timeout: 5) }
        close(stdin)
        close(stdout)
    }

    /// Reads until `text` appears in the output or the deadline passes.
    @discardableResult
    func read(until text: String, timeout: Double = 20) -> Bool {
        let deadline = now() + timeout
        while !output.contains(text) {
            let left = deadline - now()
            if left <= 0 || !readSome(timeoutMs: Int32(min(left, 1) * 1000)) && eof { return output.contains(text) }
        }
        return true
    }

    private var eof = false

    /// Reads everything until end of file (or the deadline).
    func readToEnd(timeout: Double = 30) -> String {
        let deadline = now() + timeout
        while !eof && now() < deadline { _ = readSome(timeoutMs: 200) }
        return output
    }

    private func readSome(timeoutMs: Int32) -> Bool {
        var pfd = pollfd(fd: stdout, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeoutMs) > 0 else { return false }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = Glibc.read(stdout, &buf, buf.count)
        if n <= 0 { eof = true; return false }
        output += String(decoding: buf[0..<n], as: UTF8.self)
        return true
    }

    func write(_ s: String) {
        _ = s.withCString { Glibc.write(stdin, $0, strlen($0)) }
    }

    /// True when the process is still alive after `seconds` (it is not killed).
    func isRunning(after seconds: Double) -> Bool {
        let deadline = now() + seconds
        while now() < deadline {
            var st: Int32 = 0
            if status != nil { return false }
            if waitpid(pid, &st, WNOHANG) == pid { status = st; return false }
            usleep(5000)
        }
        return true
    }

    /// Exit status as (code, signal); nil when it did not end in time (then it is killed).
    func wait(timeout: Double = 30) -> (code: Int32, signal: Int32)? {
        let deadline = now() + timeout
        while true {
            if let s = status { return decode(s) }
            var st: Int32 = 0
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid { status = st; return decode(st) }
            if now() > deadline { kill(pid, SIGKILL); waitpid(pid, &st, 0); status = st; return nil }
            usleep(5000)
        }
    }

    private func decode(_ s: Int32) -> (code: Int32, signal: Int32) {
        (s & 0x7f) == 0 ? ((s >> 8) & 0xff, 0) : (-1, s & 0x7f)
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The unprivileged account tests run the engine as (created when running as root).
struct TestUser {
    let name: String
    let uid: uid_t
    let gid: gid_t

    static let name = "swiftcr-test"

    /// Creates the account if needed; nil when that is not possible (not root).
    static func ensure() -> TestUser? {
        if let pw = getpwnam(name) { return TestUser(name: name, uid: pw.pointee.pw_uid, gid: pw.pointee.pw_gid) }
        guard getuid() == 0 else { return nil }
        _ = runTool(["/usr/sbin/useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name])
        guard let pw = getpwnam(name) else { return nil }
        return TestUser(name: name, uid: pw.pointee.pw_uid, gid: pw.pointee.pw_gid)
    }
}

/// Runs a command to completion and returns (exit code, output).
@discardableResult
func runTool(_ argv: [String], user: TestUser? = nil, cwd: String? = nil, timeout: Double = 120) -> (code: Int32, output: String) {
    guard let c = try? Child(argv, user: user, cwd: cwd) else { return (-1, "cannot spawn \(argv[0])") }
    close(c.stdin)
    let out = c.readToEnd(timeout: timeout)
    let st = c.wait(timeout: 5)
    return (st?.code ?? -1, out)
}
