import CLibCR

import AgentWire
import Glibc

/// The in-process side of a checkpoint (docs/LIBCR-AGENT.md): a checkpointer
/// signals CR_SIGNUM with a token; the agent connects to the checkpointer's
/// abstract socket, checks its credentials, runs the callbacks, reports
/// READY (or OMIT / failure) and waits on its result pipe: the checkpointer
/// writes "continue" there after the dump, the restorer "restarted" after a
/// restart. Without cr_init() (cr_run) it all runs in the signal handler.
enum Agent {
    static let pending: Int32 = 1, active: Int32 = 2, idle: Int32 = 0

    /// The socket to the checkpointer while a request is served.
    nonisolated(unsafe) static var socket: Int32 = -1
    nonisolated(unsafe) static var exchanged = false
    /// What the last exchange gave: 0 continuing, > 0 restarted, < 0 failed.
    nonisolated(unsafe) static var lastResult: Int32 = -1

    /// Who sent a request: the pid in the listener's name, and the pid its
    /// SO_PEERCRED shows here. A checkpointer outside this PID namespace (a
    /// user's restart runs in one) is pid 0 to us, in si_pid and SO_PEERCRED
    /// alike; its own pid comes in the high half of si_value.
    static func requester(siPid: pid_t, valueHigh: Int32) -> (name: pid_t, peer: pid_t) {
        siPid != 0 ? (siPid, siPid) : (valueHigh, 0)
    }

    /// Returns whether the checkpointer is to be told DONE (`sendDone`): by
    /// the caller, once it has put its own state back (a process stopped
    /// right after DONE must not keep the agent thread named busy).
    @discardableResult
    static func serve(checkpointer: pid_t, peer: pid_t, token: Int32, runCallbacks: Bool) -> Bool {
        let m = memory.message
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        socket = fd
        defer { if socket >= 0 { close(socket); socket = -1 } }
        let length = AgentProtocol.address(m, pid: checkpointer, token: token)
        guard connect(fd, m.assumingMemoryBound(to: sockaddr.self), length) == 0 else { return false }
        // Only the process's own user or root may checkpoint it.
        var cred = cr_peer_cred()
        var credLength = socklen_t(MemoryLayout<cr_peer_cred>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credLength) == 0,
              cred.pid == peer, cred.uid == 0 || cred.uid == getuid() else { return false }
        let n = recv(fd, m, Memory.messageSize - 1, 0)
        guard n >= AgentWire.Request.headerSize, AgentProtocol.get(m, AgentWire.Request.magic) == AgentProtocol.magic else { return false }
        fillCheckpointInfo(m, n)
        exchanged = false
        Forwards.count = 0
        memory.store(.failure, 0)
        if memory.load(.omitMode) == 1 {
            reply(.omit, 0)
            return false
        }
        // Critical sections defer the checkpoint; new ones wait while it is pending.
        memory.store(.status, pending)
        while case let held = memory.load(.sections), held > 0 { Futex.wait(.sections, while: held) }
        memory.store(.status, active)
        lastResult = -1
        _ = runCallbacks ? Chain.run() : exchange()
        if !exchanged { _ = exchange() }
        memory.store(.status, idle)
        Futex.wake(.status)
        // Threads that never called cr_init() run their NO_CALLBACKS hook (BLCR cr_core.c).
        if runCallbacks && lastResult >= 0 { NoCallbackHooks.run(restarted: lastResult > 0) }
        // Every callback has returned: the checkpointer may finish the request.
        return lastResult == 0
    }

    /// DONE on a new connection to the checkpointer's name (it waits for it).
    static func sendDone(checkpointer: pid_t, token: Int32) {
        answerAlone(.done, checkpointer: checkpointer, token: token, buffer: memory.message, takingRequest: false)
    }

    /// BUSY to a second checkpointer, from the signal handler: its own buffer,
    /// nothing the agent thread is using; its request is taken first.
    static func replyBusy(checkpointer: pid_t, token: Int32) {
        answerAlone(.busy, checkpointer: checkpointer, token: token, buffer: memory.busyMessage, takingRequest: true)
    }

    /// One reply with no forwards on a connection of its own to the checkpointer's name.
    static func answerAlone(_ kind: AgentProtocol.Reply, checkpointer: pid_t, token: Int32, buffer m: UnsafeMutableRawPointer, takingRequest: Bool) {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let length = AgentProtocol.address(m, pid: checkpointer, token: token)
        guard connect(fd, m.assumingMemoryBound(to: sockaddr.self), length) == 0 else { return }
        if takingRequest { guard recv(fd, m, 256, 0) > 0 else { return } }  // cut to the buffer: only its arrival counts
        AgentProtocol.put(AgentProtocol.magic, m, AgentWire.Reply.magic)
        AgentProtocol.put(kind.rawValue, m, AgentWire.Reply.kind)
        AgentProtocol.put(0, m, AgentWire.Reply.value)
        AgentProtocol.put(0, m, AgentWire.Reply.forwardCount)
        _ = send(fd, m, AgentWire.Reply.headerSize, Int32(MSG_NOSIGNAL))
    }

    /// Request layout: magic, version, scope, target, requester, signal, flags, dest length, dest.
    static func fillCheckpointInfo(_ m: UnsafeMutableRawPointer, _ n: Int) {
        let info = memory.checkpointInfo
        let destLength = min(Int(AgentProtocol.get(m, AgentWire.Request.destinationLength)), min(n - AgentWire.Request.headerSize, 4095))
        for k in 0..<max(destLength, 0) { memory.destination[k] = CChar(bitPattern: m.load(fromByteOffset: 32 + k, as: UInt8.self)) }
        memory.destination[max(destLength, 0)] = 0
        info.storeBytes(of: Int32(bitPattern: AgentProtocol.get(m, AgentWire.Request.signal)), toByteOffset: 0, as: Int32.self)  // signal
        info.storeBytes(of: UnsafePointer(memory.destination), toByteOffset: 8, as: UnsafePointer<CChar>.self)
        info.storeBytes(of: Int32(bitPattern: AgentProtocol.get(m, AgentWire.Request.requester)), toByteOffset: 16, as: Int32.self)  // requester
        info.storeBytes(of: Int32(bitPattern: AgentProtocol.get(m, AgentWire.Request.target)), toByteOffset: 20, as: Int32.self)  // target
        info.storeBytes(of: Int32(bitPattern: AgentProtocol.get(m, AgentWire.Request.scope)), toByteOffset: 24, as: Int32.self)   // scope
        memory.store(.requestFlags, Int32(bitPattern: AgentProtocol.get(m, AgentWire.Request.flags)))
    }

    /// Reply: magic, kind, value, count of forwarded (scope, pid) pairs, the pairs.
    static func reply(_ kind: AgentProtocol.Reply, _ value: Int32) {
        let m = memory.message
        let forwards = kind == .ready ? Forwards.count : 0
        AgentProtocol.put(AgentProtocol.magic, m, AgentWire.Reply.magic)
        AgentProtocol.put(kind.rawValue, m, AgentWire.Reply.kind)
        AgentProtocol.put(UInt32(bitPattern: value), m, AgentWire.Reply.value)
        // The top bit: this agent says DONE after its callbacks (older ones do not).
        AgentProtocol.put(UInt32(forwards) | (kind == .ready ? AgentWire.Reply.saysDone : 0), m, AgentWire.Reply.forwardCount)
        for k in 0..<forwards {
            AgentProtocol.put(UInt32(bitPattern: Forwards.entries[k].0), m, AgentWire.Reply.forwards + AgentWire.Reply.forwardSize * k)
            AgentProtocol.put(UInt32(bitPattern: Forwards.entries[k].1), m, AgentWire.Reply.forwards + AgentWire.Reply.forwardSize * k + 4)
        }
        _ = send(socket, m, AgentWire.Reply.headerSize + AgentWire.Reply.forwardSize * forwards, Int32(MSG_NOSIGNAL))
    }

    /// A callback's cr_forward_checkpoint(), asked of the checkpointer while
    /// the callbacks run (BLCR's kernel answers it in the call): 0 taken, or
    /// the errno. 0 too when the checkpointer does not answer forwards (it
    /// then takes them with READY). Maybe in a signal handler: no allocation;
    /// signal-context callbacks of several threads ask one at a time.
    static func askForward(scope: Int32, pid: pid_t) -> Int32 {
        guard UInt32(bitPattern: memory.load(.requestFlags)) & AgentWire.Request.answersForwards != 0, socket >= 0 else { return 0 }
        while !memory.exchange(.forwardLock, expecting: 0, 1) { sched_yield() }
        defer { memory.store(.forwardLock, 0) }
        let m = memory.forwardMessage
        AgentProtocol.put(AgentProtocol.magic, m, AgentWire.Reply.magic)
        AgentProtocol.put(AgentWire.Reply.forward.rawValue, m, AgentWire.Reply.kind)
        AgentProtocol.put(0, m, AgentWire.Reply.value)
        AgentProtocol.put(1, m, AgentWire.Reply.forwardCount)
        AgentProtocol.put(UInt32(bitPattern: scope), m, AgentWire.Reply.forwards)
        AgentProtocol.put(UInt32(bitPattern: pid), m, AgentWire.Reply.forwards + 4)
        let size = AgentWire.Reply.headerSize + AgentWire.Reply.forwardSize
        guard send(socket, m, size, Int32(MSG_NOSIGNAL)) == size else { return ECONNRESET }
        var p = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        while true {
            let r = poll(&p, 1, 60_000)
            if r > 0 { break }
            if r == 0 || errno != EINTR { return ETIMEDOUT }
        }
        guard recv(socket, m, 64, 0) >= AgentWire.Reply.headerSize, AgentProtocol.get(m, AgentWire.Reply.magic) == AgentProtocol.magic,
              AgentProtocol.get(m, AgentWire.Reply.kind) == AgentWire.Reply.forward.rawValue else { return EPROTO }
        return Int32(bitPattern: AgentProtocol.get(m, AgentWire.Reply.value))
    }

    /// cr_checkpoint(CR_CHECKPOINT_PERM_FAILURE): the checkpointer is told
    /// (it kills the rest of the scope), then the process ends by SIGKILL.
    /// Called from a callback, maybe in a signal handler: no allocation.
    static func dieOfPermanentFailure(code: Int32) -> Never {
        if !exchanged && socket >= 0 {
            exchanged = true
            reply(.permFailure, code)
        }
        while true {
            kill(getpid(), SIGKILL)
            pause()
        }
    }

    /// Tells the checkpointer the outcome of the callbacks, then (if READY)
    /// waits for the result: 0 continuing, > 0 restarted (cr_restart's pid), < 0 failure.
    static func exchange() -> Int32 {
        exchanged = true
        let failure = memory.load(.failure)
        if failure != 0 {
            defer { close(socket); socket = -1 }
            let code = failure >> 16
            if failure & LibCR.omit != 0 { reply(.omit, 0); return -LibCR.eOmitted }
            if failure & LibCR.permFailure != 0 { reply(.permFailure, code); return -(code != 0 ? code : LibCR.ePermFail) }
            reply(.tempFailure, code)
            return -(code != 0 ? code : LibCR.eTempFail)
        }
        reply(.ready, memory.load(.resultWrite))
        // Not part of the image: the connection leads to a checkpointer that will be gone.
        close(socket)
        socket = -1
        let m = memory.message
        guard AgentProtocol.readFully(memory.load(.resultRead), m, AgentWire.Result.headerSize) else { return -Int32(EIO) }
        let kind = AgentProtocol.Result(rawValue: AgentProtocol.get(m, AgentWire.Result.kind))
        let value = Int32(bitPattern: AgentProtocol.get(m, AgentWire.Result.value))
        let sourceLength = min(Int(AgentProtocol.get(m, AgentWire.Result.sourceLength)), 4095)
        switch kind {
        case .restarted:
            lastResult = 1
            _ = AgentProtocol.readFully(memory.load(.resultRead), UnsafeMutableRawPointer(memory.source), sourceLength)
            memory.source[sourceLength] = 0
            memory.restartInfo.storeBytes(of: value, toByteOffset: 0, as: Int32.self)
            memory.restartInfo.storeBytes(of: UnsafePointer(memory.source), toByteOffset: 8, as: UnsafePointer<CChar>.self)
            memory.add(.generation, 1)
            return max(value, 1)
        case .continuing:
            lastResult = 0
            return 0
        case .failed, .none: return value > 0 ? -value : -Int32(EIO)
        }
    }

    /// CR_SIGNUM handler: a request from a checkpointer, or (sent by the agent
    /// thread to itself) the signal-context phase of a checkpoint.
    static let handler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = { _, info, _ in
        guard let info else { return }
        let saved = errno
        defer { errno = saved }
        let from = cr_siginfo_pid(info), value = cr_siginfo_value(info)
        let (name, peer) = requester(siPid: from, valueHigh: cr_siginfo_value_high(info))
        if from == getpid() && value == Chain.signalPhaseToken {
            Chain.runSignalContext()
            return
        }
        if from == getpid() && value == NoCallbackHooks.token {
            NoCallbackHooks.runInThisThread()
            return
        }
        if memory.load(.agentRunning) == 1 {
            // Another checkpoint is being served: this one is refused at once.
            guard memory.exchange(.serving, expecting: 0, 1) else {
                replyBusy(checkpointer: name, token: value)
                return
            }
            memory.store(.requestPid, name)
            memory.store(.requestToken, value)
            memory.store(.requestPeer, peer)
            var byte = AgentThread.wakeRequest
            _ = write(memory.load(.wakeWrite), &byte, 1)
            return
        }
        let generation = memory.load(.generation)
        let done = serve(checkpointer: name, peer: peer, token: value, runCallbacks: false)
        Hooks.call(memory.load(.generation) != generation ? .restartNoCallbacks : .continueNoCallbacks)
        if done { sendDone(checkpointer: name, token: value) }
    }
}
