import AgentWire
import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// The checkpointer's side of the libcr protocol (docs/LIBCR-AGENT.md).
/// Before the freeze, every process that handles CR_SIGNUM is signalled
/// with a token; its agent connects to our abstract socket
/// "\0swiftcr-agent-<our pid>-<token>", runs its callbacks, and replies
/// READY (with the fd of its result pipe), OMIT, or a failure. After the
/// dump we write the outcome into that pipe through /proc; a restart writes
/// "restarted" into the restored pipe instead.
enum AgentRendezvous {
    static let signal = AgentWire.signal
    /// How long an agent has to connect: a process that handles CR_SIGNUM without being libcr never will.
    static let connectTimeout = 5.0

    struct Request {
        var scope: UInt32
        var target: pid_t
        var requester: pid_t
        var signal: Int32
        var flags: UInt32
        var destination: String
    }

    struct Outcome {
        /// pid -> fd (in that process) of its result pipe's write end.
        var ready: [pid_t: Int32] = [:]
        var omitted: Set<pid_t> = []
        var forwarded: [(scope: UInt32, pid: pid_t)] = []
        var withoutAgent: [pid_t] = []
        var warnings: [String] = []
        /// Per ready process, the listener its agent says DONE on after "continuing".
        var listeners: [pid_t: Int32] = [:]
        /// Ready processes whose agent will say DONE (an older libcr does not).
        var saysDone: Set<pid_t> = []
        /// Processes that were stopped (group stop) and were continued so
        /// their callbacks could run: stopped again after the checkpoint.
        var continued: Set<pid_t> = []
    }

    enum Failure: Error { case temporary(pid_t, Int32), permanent(pid_t, Int32) }

    /// Whether the process handles CR_SIGNUM with libcr loaded (cr_run, or
    /// linked with -lcr). A handler alone proves nothing: Go's runtime, for
    /// one, catches every signal, and a program may use SIGRTMAX for its own
    /// ends. Such a process is not sent the request (it would take it as its
    /// own signal) and is not waited for.
    static func hasAgent(_ pid: pid_t) -> Bool {
        guard let caught = (try? ProcStatus.read(pid: pid))?.signalSet("SigCgt"),
              caught & (UInt64(1) << UInt64(signal - 1)) != 0 else { return false }
        return mapsLibCR(pid)
    }

    /// Whether a file named libcr.so* is mapped in the process (BLCR's and
    /// ours; libcr_run and libcr_omit need it too).
    static func mapsLibCR(_ pid: pid_t) -> Bool {
        guard let maps = try? Sys.readText("/proc/\(pid)/maps") else { return false }
        return maps.utf8.split(separator: UInt8(ascii: "\n")).contains { line in
            guard let slash = line.lastIndex(of: UInt8(ascii: "/")) else { return false }
            return line[line.index(after: slash)...].starts(with: "libcr.so".utf8)
        }
    }

    /// libcr's agent thread (cr_init() started it), found by its name, and
    /// whether it is serving a checkpoint now.
    static func agentThread(_ pid: pid_t) -> (tid: pid_t, busy: Bool)? {
        let idle = "\(AgentWire.threadName)", busy = "\(AgentWire.busyThreadName)"
        for tid in (try? Sys.numericEntries("/proc/\(pid)/task")) ?? [] {
            guard let comm = try? Sys.readText("/proc/\(pid)/task/\(tid)/comm") else { continue }
            let name = comm.hasSuffix("\n") ? String(comm.dropLast()) : comm
            if name == idle || name == busy { return (tid, name == busy) }
        }
        return nil
    }

    /// si_value of a request: the token, and our pid in the high half for an
    /// agent in a PID namespace below ours, to which si_pid reads 0.
    static func requestValue(_ token: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: token)) | UInt64(UInt32(bitPattern: getpid())) << 32
    }

    /// CR_SIGNUM with the token, queued to one thread (as sigqueue does to a process).
    static func signalThread(_ pid: pid_t, _ tid: pid_t, token: Int32) -> Bool {
        var info = siginfo_t()
        withUnsafeMutableBytes(of: &info) { raw in
            raw.storeBytes(of: signal, toByteOffset: 0, as: Int32.self)        // si_signo
            raw.storeBytes(of: Int32(-1), toByteOffset: 8, as: Int32.self)     // si_code = SI_QUEUE
            raw.storeBytes(of: getpid(), toByteOffset: 16, as: Int32.self)     // si_pid
            raw.storeBytes(of: getuid(), toByteOffset: 20, as: UInt32.self)    // si_uid
            raw.storeBytes(of: requestValue(token), toByteOffset: 24, as: UInt64.self)  // si_value
        }
        return withUnsafeMutablePointer(to: &info) { Syscall.raw(NR.rt_tgsigqueueinfo, Int(pid), Int(tid), Int(signal), Int(bitPattern: UnsafeMutableRawPointer($0))) } == 0
    }

    /// `forwardCheck` answers a callback's cr_forward_checkpoint(scope, pid)
    /// while it waits: 0 to take it, else the errno its call fails with.
    static func run(_ pids: [pid_t], request: Request, timeLimit: Double?, log: Logger,
                    forwardCheck: (UInt32, pid_t) -> Int32 = { _, _ in 0 }) throws -> Outcome {
        var outcome = Outcome()
        var pending: [(pid: pid_t, listener: Int32)] = []
        defer { for p in pending where outcome.listeners[p.pid] != p.listener { close(p.listener) } }
        for pid in pids {
            let thread = agentThread(pid)
            if thread?.busy == true { throw CheckpointError(EBUSY, "process \(pid) is already in the callbacks of another checkpoint") }
            guard thread != nil || hasAgent(pid) else { outcome.withoutAgent.append(pid); continue }
            // A stopped process runs no callback: continued for them, as BLCR's
            // kernel wakes it, and stopped again once it is checkpointed.
            if (try? ProcStat.read(pid: pid))?.state == "T", kill(pid, SIGCONT) == 0 { outcome.continued.insert(pid) }
            let token = Int32(bitPattern: arc4random())
            let listener = try listen(token: token)
            pending.append((pid, listener))
            // To the agent thread by name when there is one (it takes the signal
            // from a signalfd, whatever the program did to CR_SIGNUM), else to the
            // process, whose libcr handler serves it (cr_run without cr_init()).
            let sent = thread.map { signalThread(pid, $0.tid, token: token) } ?? (sigqueue(pid, signal, sigval(sival_ptr: UnsafeMutableRawPointer(bitPattern: UInt(requestValue(token))))) == 0)
            if !sent { throw CheckpointError(errno: errno, "cannot signal process \(pid) for its callbacks") }
        }
        let started = Clock.now
        // Every agent gets its request before any reply is awaited: the
        // callbacks of several processes run at once and may wait for each other.
        var connections: [(pid: pid_t, fd: Int32)] = []
        defer { for c in connections { close(c.fd) } }
        for p in pending {
            guard let connection = accept(p.listener, within: connectTimeout, from: p.pid) else {
                outcome.warnings.append("process \(p.pid) handles CR_SIGNUM but no libcr agent answered within \(Int(connectTimeout)) s: checkpointed without its callbacks")
                outcome.withoutAgent.append(p.pid)
                continue
            }
            connections.append((p.pid, connection))
            try send(request, to: connection)
        }
        do {
            while !connections.isEmpty {
                let left = timeLimit.map { $0 - (Clock.now - started) }
                if let left, left <= 0 {
                    throw CheckpointError(ETIMEDOUT, "the callbacks of process \(connections[0].pid) did not finish within the time limit")
                }
                var fds = connections.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
                let r = poll(&fds, nfds_t(fds.count), Int32(min(left ?? 1, 1) * 1000))
                if r < 0 && errno != EINTR { throw CheckpointError(errno: errno, "waiting for libcr agents") }
                for k in fds.indices.reversed() where fds[k].revents != 0 {
                    let c = connections[k]
                    let reply = receive(c.fd, within: 0.01)
                    if let reply, word(reply, AgentWire.Reply.kind) == AgentWire.Reply.forward.rawValue {
                        answerForward(reply, on: c.fd, check: forwardCheck)
                        continue
                    }
                    connections.remove(at: k)
                    defer { close(c.fd) }
                    try handleReply(reply, from: c.pid, on: c.fd, into: &outcome)
                }
            }
        } catch {
            // Those that answered READY wait on their result pipes: tell them first.
            release(outcome.ready, failed: (error as? CheckpointError)?.code ?? BLCRCode.tempFail)
            stopAgain(outcome.continued)
            throw error
        }
        for p in pending where outcome.saysDone.contains(p.pid) { outcome.listeners[p.pid] = p.listener }
        return outcome
    }

    /// After "continuing": each agent says DONE once its callbacks have all
    /// returned, and only then is the checkpoint complete (as BLCR's request
    /// completes after CR_OP_HAND_DONE). A process that exits stops the wait,
    /// and so does the time limit (`within`). The listeners are closed.
    static func awaitDone(_ listeners: [pid_t: Int32], within seconds: Double) {
        let deadline = Clock.now + seconds
        for (pid, listener) in listeners {
            defer { close(listener) }
            while Clock.now < deadline && !CheckpointRun.hasExited(pid) {
                guard let connection = accept(listener, within: min(0.2, max(0.01, deadline - Clock.now)), from: pid) else { continue }
                _ = receive(connection, within: max(0.01, deadline - Clock.now))
                close(connection)
                break
            }
        }
    }

    static func closeListeners(_ listeners: [pid_t: Int32]) { for fd in listeners.values { close(fd) } }

    /// Processes continued for their callbacks go back to their stop.
    static func stopAgain(_ pids: Set<pid_t>) { for p in pids { kill(p, SIGSTOP) } }

    /// After a restart: waits until the process's agent thread has finished
    /// serving the request it was restored in (its restart callbacks have
    /// returned), at most `seconds`, or the process is gone.
    static func awaitServed(_ pid: pid_t, within seconds: Double) {
        let deadline = Clock.now + seconds
        while Clock.now < deadline, agentThread(pid)?.busy == true { usleep(1000) }
    }

    /// One agent's reply (nil: its connection ended without one).
    private static func handleReply(_ reply: [UInt8]?, from pid: pid_t, on connection: Int32, into outcome: inout Outcome) throws {
        guard let reply else {
            // The connection ends early when the process exits in its callback (BLCR: ESRCH).
            // Its files close just before it becomes a zombie: give that a moment.
            for _ in 0..<50 {
                if CheckpointRun.hasExited(pid) { throw CheckpointError(ESRCH, "process \(pid) exited inside its checkpoint callbacks") }
                usleep(2000)
            }
            throw CheckpointError(EPROTO, "process \(pid)'s libcr agent closed its connection without a reply")
        }
        let kind = word(reply, AgentWire.Reply.kind), value = Int32(bitPattern: word(reply, AgentWire.Reply.value))
        let counted = word(reply, AgentWire.Reply.forwardCount)
        let count = Int(counted & ~AgentWire.Reply.saysDone)
        switch AgentWire.Reply(rawValue: kind) {
        case .ready:
            outcome.ready[pid] = value
            if counted & AgentWire.Reply.saysDone != 0 { outcome.saysDone.insert(pid) }
            // The agent closes its end right after READY; wait for that (briefly), so
            // the freeze does not catch the connection open and put it in the image.
            _ = receive(connection, within: 1)
            let pairs = AgentWire.Reply.forwards
            for k in 0..<min(count, (reply.count - pairs) / AgentWire.Reply.forwardSize) {
                let at = pairs + AgentWire.Reply.forwardSize * k
                outcome.forwarded.append((word(reply, at), pid_t(bitPattern: word(reply, at + 4))))
            }
        case .omit: outcome.omitted.insert(pid)
        case .busy: throw CheckpointError(EBUSY, "process \(pid) is already in the callbacks of another checkpoint")
        case .done: throw CheckpointError(EPROTO, "process \(pid)'s libcr agent said DONE before READY")
        case .forward: throw CheckpointError(EPROTO, "process \(pid)'s libcr agent asked about a forward out of turn")  // (answered in `run`)
        case .tempFailure: throw Failure.temporary(pid, value)
        case .permFailure: throw Failure.permanent(pid, value)
        case nil: throw CheckpointError(EPROTO, "process \(pid)'s libcr agent sent reply kind \(kind)")
        }
    }

    /// Writes the outcome into each ready process's result pipe: continuing (0) or failed (errno).
    static func release(_ ready: [pid_t: Int32], failed errorCode: Int32?) {
        for (pid, fd) in ready {
            deliver(errorCode == nil ? .continuing : .failed, value: errorCode ?? 0, source: "", to: "/proc/\(pid)/fd/\(fd)")
        }
    }

    /// Result record (AgentWire.Result): kind, value, source length, then the source path.
    @discardableResult
    static func deliver(_ kind: AgentWire.Result, value: Int32, source: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var bytes: [UInt8] = []
        for v in [kind.rawValue, UInt32(bitPattern: value), UInt32(source.utf8.count)] { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        bytes += Array(source.utf8)
        return bytes.withUnsafeBytes { (try? Sys.writeAll(fd, $0, what: path)) != nil }
    }

    private static func listen(token: Int32) throws -> Int32 {
        let fd = try valueOrThrow("socket(agent)") { socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        let prefix = AgentWire.namePrefix.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
        var name = [UInt8(AF_UNIX), 0, 0] + Array("\(prefix)\(getpid())-\(UInt32(bitPattern: token))".utf8)
        let r = name.withUnsafeMutableBytes { b -> Int32 in
            guard let base = b.baseAddress else { return -1 }
            return bind(fd, base.assumingMemoryBound(to: sockaddr.self), socklen_t(b.count))
        }
        guard r == 0, Glibc.listen(fd, 4) == 0 else {
            close(fd)
            throw CheckpointError(errno: errno, "cannot listen for libcr agents")
        }
        return fd
    }

    /// The agent's connection, if it comes in time from that process (SO_PEERCRED).
    private static func accept(_ listener: Int32, within seconds: Double, from pid: pid_t) -> Int32? {
        let deadline = Clock.now + seconds
        while Clock.now < deadline {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(max(1, (deadline - Clock.now) * 1000))) > 0 else { continue }
            let c = Glibc.accept(listener, nil, nil)
            guard c >= 0 else { continue }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            var cred = [Int32](repeating: 0, count: 3)  // struct ucred: pid, uid, gid
            var length = socklen_t(12)
            if getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0 && cred[0] == pid { return c }
            close(c)
        }
        return nil
    }

    /// FORWARD's answer on the agent's connection: kind FORWARD, value 0 or the errno.
    private static func answerForward(_ query: [UInt8], on fd: Int32, check: (UInt32, pid_t) -> Int32) {
        let at = AgentWire.Reply.forwards
        let code = word(query, AgentWire.Reply.forwardCount) >= 1 && query.count >= at + AgentWire.Reply.forwardSize
            ? check(word(query, at), pid_t(bitPattern: word(query, at + 4))) : EINVAL
        var bytes: [UInt8] = []
        for v in [AgentWire.magic, AgentWire.Reply.forward.rawValue, UInt32(bitPattern: code), 0] { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Request: magic, version, scope, target, requester, signal, flags, destination length, destination.
    private static func send(_ r: Request, to fd: Int32) throws {
        var bytes: [UInt8] = []
        let dest = Array(r.destination.utf8.prefix(4000))
        for v in [AgentWire.magic, AgentWire.version, r.scope, UInt32(bitPattern: r.target), UInt32(bitPattern: r.requester), UInt32(bitPattern: r.signal), r.flags, UInt32(dest.count)] {
            withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
        }
        bytes += dest
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard n == bytes.count else { throw CheckpointError(EPIPE, "the libcr agent went away before its request was sent") }
    }

    private static func receive(_ fd: Int32, within seconds: Double?) -> [UInt8]? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let deadline = seconds.map { Clock.now + $0 }
        while true {
            let ms = deadline.map { Int32(max(0, ($0 - Clock.now) * 1000)) } ?? -1
            let r = poll(&p, 1, ms)
            if r > 0 { break }
            if r == 0 { return nil }
            if errno != EINTR { return nil }
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n >= AgentWire.Reply.headerSize, word(buffer, AgentWire.Reply.magic) == AgentWire.magic else { return nil }
        return Array(buffer[0..<n])
    }

    private static func word(_ b: [UInt8], _ at: Int) -> UInt32 {
        guard at + 4 <= b.count else { return 0 }
        return UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
}
