import CLibCR

import AgentWire
import Glibc

/// The agent thread (cr_init). It blocks every signal and waits for work:
/// a request the CR_SIGNUM handler of another thread handed over (wake pipe),
/// a request a checkpointer sent to this thread by name (its signalfd: the
/// application may have taken CR_SIGNUM's disposition, BLCR's cr_signal
/// test), or the end of the tool behind a self-request that marked the
/// process PENDING before the request reached us (`PendingMark`).
enum AgentThread {
    static let wakeRequest: UInt8 = 1, wakeRecheck: UInt8 = 2

    static let main: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { _ in
        name(AgentWire.threadName)
        var mask = UInt64(1) << UInt64(LibCR.checkpointSignal - 1)
        let signals = withUnsafeMutablePointer(to: &mask) {
            Int32(cr_syscall6(Int(SYS_signalfd4), -1, Int(bitPattern: $0), 8, Int(O_CLOEXEC | O_NONBLOCK), 0, 0))
        }
        var info = [UInt8](repeating: 0, count: 128)  // struct signalfd_siginfo
        var fds = [pollfd](repeating: pollfd(fd: -1, events: Int16(POLLIN), revents: 0), count: 3)
        // cr_init() returns once this thread has made what its wait needs and
        // been through it once: the Swift runtime makes a type's metadata on
        // first use, under a once-lock, and a fork() the program makes right
        // after cr_init() would leave that half made in the child, whose own
        // agent thread would then wait on it for good (BLCR's forward test).
        _ = poll(&fds, 3, 0)
        memory.store(.agentRunning, 1)
        while true {
            fds[0] = pollfd(fd: memory.load(.wakeRead), events: Int16(POLLIN), revents: 0)
            fds[1] = pollfd(fd: signals, events: Int16(POLLIN), revents: 0)
            fds[2] = pollfd(fd: memory.load(.pendingTool), events: Int16(POLLIN), revents: 0)
            let n = poll(&fds, 3, -1)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if fds[0].revents != 0 {
                var byte: UInt8 = 0
                let got = read(memory.load(.wakeRead), &byte, 1)
                if got <= 0 && errno != EINTR { return nil }
                if got == 1 && byte == wakeRequest {
                    serve(memory.load(.requestPid), memory.load(.requestPeer), memory.load(.requestToken))
                    AgentIdle.served()
                }
            }
            if fds[1].revents != 0, read(signals, &info, info.count) == info.count {
                let from = info.withUnsafeBytes { $0.load(fromByteOffset: 12, as: Int32.self) }   // ssi_pid
                let token = info.withUnsafeBytes { $0.load(fromByteOffset: 44, as: Int32.self) }  // ssi_int
                let high = info.withUnsafeBytes { $0.load(fromByteOffset: 52, as: Int32.self) }   // high half of ssi_ptr
                let (name, peer) = Agent.requester(siPid: from, valueHigh: high)
                memory.store(.serving, 1)
                serve(name, peer, token)
                AgentIdle.served()
            }
            // (Only the tool still marked: a request since may have marked another.)
            if fds[2].revents != 0 && fds[2].fd == memory.load(.pendingTool) { PendingMark.toolEnded() }
        }
    }

    static func serve(_ checkpointer: pid_t, _ peer: pid_t, _ token: Int32) {
        name(AgentWire.busyThreadName)
        let done = Agent.serve(checkpointer: checkpointer, peer: peer, token: token, runCallbacks: true)
        // A request served (or refused) settles any mark a self-request made.
        PendingMark.clear()
        name(AgentWire.threadName)
        if done { Agent.sendDone(checkpointer: checkpointer, token: token) }
    }

    static func name(_ text: StaticString) {
        _ = cr_syscall6(Int(SYS_prctl), 15 /* PR_SET_NAME */, Int(bitPattern: text.utf8Start), 0, 0, 0, 0)
    }
}

/// BLCR marks a self-request PENDING at once (its kernel holds the request),
/// so a critical section entered right after it waits. Here the request
/// reaches the agent only once the tool runs: cr_request_checkpoint marks it,
/// and if the tool ends without the request ever being served, the agent
/// thread (watching the tool's pidfd) takes the mark back.
enum PendingMark {
    /// Called by cr_request_checkpoint for a request that includes the
    /// caller. The pidfd stays the request's (`Request.close` takes it back
    /// from here first): the agent only polls it.
    /// Returns whether it marked (the agent runs and nothing else was pending).
    @discardableResult
    static func mark(toolPidfd: Int32) -> Bool {
        guard memory.load(.agentRunning) == 1, toolPidfd >= 0, memory.exchange(.status, expecting: Agent.idle, Agent.pending) else { return false }
        memory.store(.pendingTool, toolPidfd)
        var byte = AgentThread.wakeRecheck
        _ = write(memory.load(.wakeWrite), &byte, 1)
        return true
    }

    /// The tool exited: a mark nobody served goes.
    static func toolEnded() {
        if memory.load(.serving) == 0 { unmarkIfStillPending() }
        clear()
    }

    static func clear() { memory.store(.pendingTool, -1) }

    /// The request's pidfd is about to close: stop watching it.
    static func forget(_ pidfd: Int32) { _ = memory.exchange(.pendingTool, expecting: pidfd, -1) }

    static func unmarkIfStillPending() {
        if memory.exchange(.status, expecting: Agent.pending, Agent.idle) { Futex.wake(.status) }
    }
}

/// The agent thread is done with a request once `serving` is back to 0:
/// its callbacks have returned and its connections to the checkpointer are
/// closed (a descriptor of ours still open then is one the program's own
/// scan of its descriptors would find: BLCR's dup test).
enum AgentIdle {
    static func served() {
        memory.store(.serving, 0)
        Futex.wake(.serving)
    }

    /// Waits (at most `seconds`: a stuck agent must not hang the program) until no request is being served.
    static func wait(seconds: Double = 30) {
        let deadline = now() + seconds
        while memory.load(.serving) != 0, case let left = deadline - now(), left > 0 { Futex.wait(.serving, while: 1, seconds: min(left, 0.1)) }
    }

    /// BLCR delivers a self-request's signal as the request returns, so the
    /// checkpoint, callbacks included, is over when the caller goes on
    /// (BLCR's stage0001). Called after `PendingMark.mark`: waits until the
    /// mark is served or taken back. A caller inside a critical section
    /// goes on at once (its checkpoint waits for cr_leave_cs).
    static func waitForOwnCheckpoint() {
        guard memory.load(.sections) == 0 else { return }
        while case let s = memory.load(.status), s != Agent.idle { Futex.wait(.status, while: s) }
        wait()
    }
}
