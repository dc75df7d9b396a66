import CLibCR

import Glibc

/// cr_request_checkpoint() and cr_request_restart(): libcr runs BLCR's tools
/// (found next to libcr.so, in ../bin, or on PATH) as children and follows
/// them through a pidfd; their stderr is the request's log.
final class Request {
    let pid: pid_t
    let pidfd: Int32
    let log: Int32
    /// The tool writes its whole error code here (SWIFTCR_RESULT_FD); -1 if none.
    let result: Int32
    let isRestart: Bool
    let generation: Int32
    var text: [UInt8] = []
    var exitStatus: Int32?
    var restoredPID: pid_t?
    /// A checkpoint of a scope the caller is in: done only once our agent is (`AgentIdle`).
    var includesCaller = false

    init(pid: pid_t, pidfd: Int32, log: Int32, result: Int32, isRestart: Bool) {
        self.pid = pid; self.pidfd = pidfd; self.log = log; self.result = result; self.isRestart = isRestart
        generation = memory.load(.generation)
    }

    nonisolated(unsafe) static var table: [Int: Request] = [:]
    nonisolated(unsafe) static var next = 1
    nonisolated(unsafe) static let tableLock: UnsafeMutablePointer<Int32> = { let p = UnsafeMutablePointer<Int32>.allocate(capacity: 1); p.initialize(to: 0); return p }()

    static func locked<T>(_ body: () -> T) -> T {
        while cr_atomic_cas(tableLock, 0, 1) == 0 { sched_yield() }
        defer { cr_atomic_store(tableLock, 0) }
        return body()
    }

    static func find(_ handle: UnsafeMutablePointer<UInt>?) -> Request? {
        guard let h = handle?.pointee else { return nil }
        return locked { table[Int(h)] }
    }

    /// Starts `tool` with `arguments`; stderr goes to a pipe we read.
    static func start(tool: String, arguments: [String], keep: [Int32], isRestart: Bool) -> (Int, Int32) {
        guard let path = locate(tool) else { return (0, ENOENT) }
        var logPipe: [Int32] = [0, 0]
        guard cr_pipe2(&logPipe, O_CLOEXEC) == 0 else { return (0, errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, logPipe[1], 2)
        for fd in keep { posix_spawn_file_actions_adddup2(&actions, fd, fd) }  // clears close-on-exec
        var resultPipe: [Int32] = [-1, -1]
        var environment: [UnsafeMutablePointer<CChar>?] = []
        if cr_pipe2(&resultPipe, O_CLOEXEC) == 0 {
            posix_spawn_file_actions_adddup2(&actions, resultPipe[1], resultPipe[1])
            environment.append(strdup("SWIFTCR_RESULT_FD=\(resultPipe[1])"))
        }
        var k = 0
        while let entry = Glibc.environ[k] {
            if strncmp(entry, "SWIFTCR_RESULT_FD=", 18) != 0 { environment.append(strdup(entry)) }
            k += 1
        }
        environment.append(nil)
        defer { environment.forEach { free($0) } }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let r = posix_spawn(&pid, path, &actions, nil, argv, environment)
        Glibc.close(logPipe[1])
        if resultPipe[1] >= 0 { Glibc.close(resultPipe[1]) }
        guard r == 0 else {
            Glibc.close(logPipe[0])
            if resultPipe[0] >= 0 { Glibc.close(resultPipe[0]) }
            return (0, r)
        }
        let pidfd = Int32(cr_syscall6(Int(SYS_pidfd_open), Int(pid), 0, 0, 0, 0, 0))
        let request = Request(pid: pid, pidfd: pidfd, log: logPipe[0], result: resultPipe[0], isRestart: isRestart)
        _ = fcntl(logPipe[0], F_SETFL, O_NONBLOCK)
        return locked {
            // Earlier restarts' tools that outlived their reap (lazy pagers) and have ended since.
            for other in table.values where other.isRestart && other.restoredPID != nil { other.collect(block: false) }
            let h = next
            next += 1
            table[h] = request
            return (h, 0)
        }
    }

    static func locate(_ tool: String) -> String? {
        var candidates: [String] = []
        if let dir = libraryDirectory() { candidates += ["\(dir)/\(tool)", "\(dir)/../bin/\(tool)"] }
        for dir in (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin").split(separator: ":") { candidates.append("\(dir)/\(tool)") }
        return candidates.first { access($0, X_OK) == 0 }
    }

    /// Reads what the child wrote to stderr so far.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(log, &buffer, buffer.count)
            if n > 0 { text += buffer[0..<n] } else { break }
        }
        if isRestart, restoredPID == nil, let line = String(decoding: text, as: UTF8.self).split(separator: "\n").first(where: { $0.contains(" as pid ") }) {
            let words = line.split(separator: " ")
            if let k = words.firstIndex(of: "pid"), k + 1 < words.count { restoredPID = pid_t(words[k + 1]) }
            reapHelpers()
        }
    }

    /// A helper stub cr_restart made our child (it gave the restored process
    /// its original session or group, then exited) would hold that PID as
    /// our zombie: reaped here, only that PID and only if it is one already.
    private func reapHelpers() {
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") where line.contains("left for the caller to reap: pid ") {
            if let helper = line.split(separator: " ").last.flatMap({ pid_t($0) }), helper > 0 {
                var status: Int32 = 0
                _ = waitpid(helper, &status, WNOHANG | Int32(bitPattern: 0x4000_0000))  // __WALL
            }
        }
    }

    var finished: Bool { exitStatus != nil || (isRestart && restoredPID != nil) }

    /// Waits until the request is done or the timeout passes: 1 done, 0 timeout, -1 error.
    func wait(_ timeout: UnsafeMutablePointer<timeval>?) -> Int32 {
        let deadline: Double? = timeout.map { now() + Double($0.pointee.tv_sec) + Double($0.pointee.tv_usec) / 1e6 }
        while true {
            drain()
            if !finished { collect(block: false) }
            if finished { return 1 }
            let left = deadline.map { max(0, $0 - now()) }
            if left == 0 { return 0 }
            var fds = [pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0), pollfd(fd: log, events: Int16(POLLIN), revents: 0)]
            let ms = left.map { Int32(min($0 * 1000, 1000)) } ?? 1000
            if poll(&fds, 2, ms) < 0 && errno != EINTR { return -1 }
        }
    }

    /// The child's exit status, once it has exited (ECHILD after a restart of ours: gone with the old process).
    func collect(block: Bool) {
        guard exitStatus == nil else { return }
        var status: Int32 = 0
        let r = waitpid(pid, &status, block ? 0 : WNOHANG)
        if r == pid { exitStatus = (status >> 8) & 0xff | (status & 0x7f != 0 ? 0x100 : 0) }
        if r < 0 && errno == ECHILD { exitStatus = -1 }
    }

    /// Collects the tool's exit within `milliseconds` (a lazy restore's
    /// pager stays longer: collected by a later request's start).
    private func awaitToolExit(milliseconds: Int32) {
        let deadline = now() + Double(milliseconds) / 1000
        collect(block: false)
        while exitStatus == nil {
            let left = Int32(max(0, (deadline - now()) * 1000))
            guard left > 0 else { return }
            var fd = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            if poll(&fd, 1, left) < 0 && errno != EINTR { return }
            collect(block: false)
        }
    }

    /// BLCR's reap: > 0 success, else -1 with errno (EAGAIN not done, CR_ERESTARTED, or the failure).
    func reap() -> Int32 {
        drain()
        collect(block: false)
        if isRestart, let p = restoredPID {
            // cr_restart leaves right after naming the process when it is
            // ours: reaped here, so the caller's next wait finds its restored
            // child, not the tool (one that stays, with a process it leads, is
            // collected at a later request).
            var info = siginfo_t()
            if waitid(P_PID, id_t(p), &info, WEXITED | WNOHANG | WNOWAIT) == 0 { awaitToolExit(milliseconds: 2000) }
            return p
        }
        guard let status = exitStatus else { errno = EAGAIN; return -1 }
        if status == -1 {
            // The child went with the old process: this is the restarted copy,
            // unless the program reaped the child itself. The restorer wrote
            // "restarted" before letting us run, but the agent thread may not
            // have read it yet when this thread gets here first: give it 2 s.
            var waited = 0
            while memory.load(.generation) == generation && waited < 2000 {
                usleep(1000)
                waited += 1
            }
            guard memory.load(.generation) != generation else { errno = ECHILD; return -1 }
            // As under BLCR, the rest of the program goes on once the callbacks
            // have run: the agent thread is still serving the request it was
            // restored in until they return.
            AgentIdle.wait()
            errno = LibCR.eRestarted
            return -1
        }
        if includesCaller { AgentIdle.wait() }
        if status == 0 { return 1 }
        errno = wholeCode(status) ?? Self.errorCode(fromExit: status)
        return -1
    }

    /// The code the tool reported whole, if it did and it matches its exit status.
    func wholeCode(_ status: Int32) -> Int32? {
        guard result >= 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 32)
        _ = fcntl(result, F_SETFL, O_NONBLOCK)
        let n = read(result, &buffer, buffer.count)
        guard n > 0, let code = Int32(String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").first ?? "") else { return nil }
        return code & 0xff == status || (code & 0xff == 0 && status == 1) ? code : nil
    }

    /// Exit codes are errno & 0xFF: BLCR's own codes come back whole.
    static func errorCode(fromExit status: Int32) -> Int32 {
        for code in LibCR.eTempFail...2365 where code & 0xff == status { return code }
        return status & 0xff
    }

    func close() {
        Glibc.close(log)
        if result >= 0 { Glibc.close(result) }
        if pidfd >= 0 {
            PendingMark.forget(pidfd)
            Glibc.close(pidfd)
        }
    }
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
