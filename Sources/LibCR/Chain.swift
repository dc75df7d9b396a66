import CLibCR

import Glibc

/// Callbacks run like BLCR's: each calls cr_checkpoint(), which runs the
/// next one, so the innermost call is where the checkpoint happens and every
/// callback's cr_checkpoint() returns its outcome. Thread-context callbacks
/// run in the agent thread first; the innermost of them signals every
/// thread with signal-context callbacks, which run in that thread's handler
/// (newest first); when all are waiting in cr_checkpoint(), the agent
/// reports READY and shares the result with them.
enum Chain {
    static let signalPhaseToken: Int32 = -1

    /// Agent thread chain: slot indices, count, and the depth being run.
    nonisolated(unsafe) static var count = 0
    nonisolated(unsafe) static var agentThread: pid_t = 0

    static func run() -> Int32 {
        agentThread = currentThread()
        SlotLock.lock()
        count = 0
        // Newest registered first, as BLCR runs them (cr_core.c counts its index down).
        for k in stride(from: LibCR.slotCount - 1, through: 0, by: -1) where memory.slots[k].used && !memory.slots[k].signalContext && memory.slots[k].function != nil {
            memory.chain[count] = Int32(k)
            count += 1
        }
        SlotLock.unlock()
        memory.store(.roundResult, 0)
        let r = invoke(0)
        memory.store(.running, 0)
        Hooks.call(memory.load(.generation) != generationAtStart ? .restartThreadContext : .continueThreadContext)
        return r
    }

    nonisolated(unsafe) static var generationAtStart: Int32 = 0

    /// Runs callback `depth`; if it returns without calling cr_checkpoint(), calls it on its behalf.
    static func invoke(_ depth: Int) -> Int32 {
        if depth == 0 { generationAtStart = memory.load(.generation) }
        guard depth < count else { return finalPhase() }
        memory.chainCalled[depth] = 0
        memory.store(.running, Int32(depth + 1))
        let slot = memory.slots[Int(memory.chain[depth])]
        _ = slot.function?(slot.argument)
        if memory.chainCalled[depth] == 0 {
            memory.chainCalled[depth] = 1
            if memory.load(.failure) == 0 { return invoke(depth + 1) }
        }
        // A newer callback cancelled the checkpoint: the older ones were
        // skipped, and each outer cr_checkpoint() returns that failure
        // (BLCR's failed_cb2), not the result of a round never run.
        let failure = memory.load(.failure)
        return failure != 0 ? failureCode(failure) : memory.load(.roundResult)
    }

    /// cr_checkpoint() from the agent thread's callback at `depth`.
    static func checkpointCalled(depth: Int, flags: Int32) -> Int32 {
        memory.chainCalled[depth] = 1
        if let failure = failureResult(flags) { return failure }
        let r = invoke(depth + 1)
        memory.store(.running, Int32(depth + 1))
        return r
    }

    /// Records OMIT/TEMP/PERM (with a user code) and returns cr_checkpoint()'s negative result.
    static func failureResult(_ flags: Int32) -> Int32? {
        guard flags & (LibCR.omit | LibCR.tempFailure | LibCR.permFailure) != 0 else { return nil }
        _ = memory.exchange(.failure, expecting: 0, flags)
        // PERM: the process does not go on from here (BLCR's kernel kills it
        // in the call; its requester learns the code first).
        if flags & LibCR.permFailure != 0 && flags & LibCR.omit == 0 { Agent.dieOfPermanentFailure(code: flags >> 16) }
        return failureCode(flags)
    }

    /// cr_checkpoint()'s negative result for OMIT/TEMP/PERM flags (with a user code).
    static func failureCode(_ flags: Int32) -> Int32 {
        let code = flags >> 16
        if flags & LibCR.omit != 0 { return -LibCR.eOmitted }
        if flags & LibCR.permFailure != 0 { return -(code != 0 ? code : LibCR.ePermFail) }
        return -(code != 0 ? code : LibCR.eTempFail)
    }

    /// Signal-context phase, then READY and the wait for the result.
    static func finalPhase() -> Int32 {
        let threads = signalThreads()
        if threads.sent > 0 {
            while case let ready = memory.load(.ready), ready < memory.load(.signalled) { Futex.wait(.ready, while: ready) }
        }
        // Every signalled thread is in libcr's handler: the application's own disposition may come back.
        OwnHandler.restore(threads.saved)
        let result = Agent.exchange()
        memory.store(.roundResult, result)
        memory.add(.round, 1)
        Futex.wake(.round)
        // The request is done once every callback has returned, those in
        // signal context too (a stop or DONE must not cut one short).
        let deadline = now() + 30
        while case let done = memory.load(.finished), done < threads.sent, case let left = deadline - now(), left > 0 {
            Futex.wait(.finished, while: done, seconds: min(left, 0.1))
        }
        return result
    }

    /// Sends the phase signal to each thread with signal-context callbacks,
    /// through libcr's handler even if the application took CR_SIGNUM
    /// (`saved`: its disposition, to put back once they are all in).
    static func signalThreads() -> (sent: Int32, saved: sigaction?) {
        memory.store(.ready, 0)
        memory.store(.signalled, 0)
        memory.store(.finished, 0)
        // The agent thread may allocate (it is not a signal handler).
        var targets: [pid_t] = []
        SlotLock.lock()
        for k in 0..<LibCR.slotCount where memory.slots[k].used && memory.slots[k].signalContext && memory.slots[k].function != nil {
            let t = memory.slots[k].thread
            if !targets.contains(t) { targets.append(t) }
        }
        SlotLock.unlock()
        guard !targets.isEmpty else { return (0, nil) }
        let saved = OwnHandler.install()
        memory.store(.signalled, Int32(targets.count))
        var sent: Int32 = 0
        for t in targets {
            if ThreadSignal.send(to: t, token: signalPhaseToken) { sent += 1 } else { memory.add(.signalled, -1) }
        }
        return (sent, saved)
    }

    // MARK: signal context (runs in the signal handler: no allocation)

    /// Per-thread row: [tid, initialized, position, active], found by the
    /// thread's pthread_self(), which a restart keeps (its TID may change:
    /// the row then takes the new one).
    static func row(for tid: pid_t, create: Bool) -> UnsafeMutablePointer<Int32>? {
        let key = UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
        for k in 0..<LibCR.threadCount where memory.threadKeys[k] == key {
            let row = memory.threads + k * 4
            if row[0] != tid { row[0] = tid }
            return row
        }
        guard create else { return nil }
        for k in 0..<LibCR.threadCount where cr_atomic_cas(memory.threads + k * 4, 0, tid) != 0 {
            memory.threadKeys[k] = key
            return memory.threads + k * 4
        }
        return nil
    }

    static func runSignalContext() {
        let tid = currentThread()
        guard let row = row(for: tid, create: true) else {
            memory.add(.finished, 1)
            Futex.wake(.finished)
            return
        }
        let round = memory.load(.round)
        row[2] = Int32(LibCR.slotCount)
        row[3] = 1
        _ = signalNext(row, tid: tid, round: round)
        row[3] = 0
        // Restarted with another TID (new PIDs, or a namespace's): this
        // thread's callbacks follow it, or the next checkpoint would signal
        // the old number. No lock: a slot's thread is only ever written by it.
        let now = currentThread()
        if now != tid {
            row[0] = now
            for k in 0..<LibCR.slotCount where memory.slots[k].thread == tid { memory.slots[k].thread = now }
        }
        Hooks.call(memory.load(.generation) != generationAtStart ? .restartSignalContext : .continueSignalContext)
        memory.add(.finished, 1)
        Futex.wake(.finished)
    }

    /// The next (older) signal-context callback of this thread, or the wait for the result.
    static func signalNext(_ row: UnsafeMutablePointer<Int32>, tid: pid_t, round: Int32) -> Int32 {
        var k = Int(row[2]) - 1
        while k >= 0 && !(memory.slots[k].used && memory.slots[k].signalContext && memory.slots[k].thread == tid && memory.slots[k].function != nil) { k -= 1 }
        if k < 0 {
            // Innermost: this thread is ready; wait for the round's result.
            memory.add(.ready, 1)
            Futex.wake(.ready)
            while memory.load(.round) == round { Futex.wait(.round, while: round) }
            return memory.load(.roundResult)
        }
        row[2] = Int32(k)
        let called = UnsafeMutablePointer<Int32>(row + 1)  // reuse "initialized" high bit as called flag
        called.pointee &= ~2
        let slot = memory.slots[k]
        _ = slot.function?(slot.argument)
        if called.pointee & 2 == 0 {
            called.pointee |= 2
            return memory.load(.failure) != 0 ? failurePassThrough(row, tid: tid, round: round) : signalNext(row, tid: tid, round: round)
        }
        return memory.load(.roundResult)
    }

    /// A failure in an earlier callback of this thread: it still reports ready, so the agent is not left waiting.
    static func failurePassThrough(_ row: UnsafeMutablePointer<Int32>, tid: pid_t, round: Int32) -> Int32 {
        row[2] = 0
        return signalNext(row, tid: tid, round: round)
    }

    /// cr_checkpoint() from a signal-context callback.
    static func signalCheckpointCalled(_ row: UnsafeMutablePointer<Int32>, flags: Int32) -> Int32 {
        row[1] |= 2
        let round = memory.load(.round)
        if let failure = failureResult(flags) {
            row[2] = 0
            _ = signalNext(row, tid: row[0], round: round)
            return failure
        }
        return signalNext(row, tid: row[0], round: round)
    }
}
