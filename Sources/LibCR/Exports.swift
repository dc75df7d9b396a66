import CLibCR

import Glibc

// BLCR's libcr API (include/libcr.h). Only these cr_* symbols are exported
// (Sources/LibCR/libcr.map). Errors follow BLCR: -1 with errno, or a
// negative BLCR code where libcr.h says so. Nothing here may trap.

private func fail(_ code: Int32) -> Int32 { errno = code; return -1 }

/// Client ids handed out by cr_init().
nonisolated(unsafe) private var nextClient: Int32 = 0

@_cdecl("cr_init")
public func cr_init() -> Int32 {
    if memory.exchange(.agentRunning, expecting: 0, 2) {
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        // The agent thread takes no signal at all: CR_SIGNUM's handler only
        // wakes it, and a process-directed signal the application blocks in
        // its own threads must wait for them, not run on ours.
        var all = sigset_t(), old = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, &old)
        let r = pthread_create(&thread, &attributes, AgentThread.main, nil)
        pthread_sigmask(SIG_SETMASK, &old, nil)
        pthread_attr_destroy(&attributes)
        guard r == 0 else { memory.store(.agentRunning, 0); return fail(r) }
        // (The thread says 1 once its descriptors are made: none appears after cr_init returns.)
    }
    while memory.load(.agentRunning) == 2 { sched_yield() }
    if let row = Chain.row(for: currentThread(), create: true) { row[1] |= 1 }
    return cr_atomic_add(&nextClient, 1)
}

private func threadInitialized() -> Bool {
    if Chain.agentThread == currentThread() && memory.load(.running) != 0 { return true }
    return (Chain.row(for: currentThread(), create: false)?[1] ?? 0) & 1 != 0
}

/// True while the calling thread runs a callback.
private func insideCallback() -> Bool {
    if Chain.agentThread == currentThread() && memory.load(.running) != 0 { return true }
    return (Chain.row(for: currentThread(), create: false)?[3] ?? 0) == 1
}

@_cdecl("cr_register_callback")
public func cr_register_callback(_ function: CRCallback?, _ argument: UnsafeMutableRawPointer?, _ flags: Int32) -> Int32 {
    let context = flags & (LibCR.threadContext | LibCR.signalContext)
    guard context == LibCR.threadContext || context == LibCR.signalContext, flags & ~context == 0 else { return fail(EINVAL) }
    guard threadInitialized() else { return fail(LibCR.eNoInit) }
    guard !insideCallback() else { return fail(EBUSY) }
    SlotLock.lock()
    defer { SlotLock.unlock() }
    for k in 0..<LibCR.slotCount where !memory.slots[k].used {
        memory.slots[k] = Slot(function: function, argument: argument, signalContext: context == LibCR.signalContext, thread: currentThread(), used: true)
        return Int32(k)
    }
    return fail(ENOSPC)
}

@_cdecl("cr_replace_callback")
public func cr_replace_callback(_ id: Int32, _ function: CRCallback?, _ argument: UnsafeMutableRawPointer?, _ flags: Int32) -> Int32 {
    guard threadInitialized() else { return fail(LibCR.eNoInit) }  // before the id (BLCR's stage0004)
    guard id >= 0, Int(id) < LibCR.slotCount else { return fail(EINVAL) }
    SlotLock.lock()
    defer { SlotLock.unlock() }
    let slot = memory.slots[Int(id)]
    let wantsSignal = flags & LibCR.signalContext != 0
    guard slot.used, wantsSignal == slot.signalContext, flags & LibCR.threadContext == 0 || !slot.signalContext else { return fail(EINVAL) }
    memory.slots[Int(id)].function = function
    memory.slots[Int(id)].argument = argument
    return 0
}

@_cdecl("cr_replace_self")
public func cr_replace_self(_ function: CRCallback?, _ argument: UnsafeMutableRawPointer?, _ flags: Int32) -> Int32 {
    if Chain.agentThread == currentThread(), case let running = memory.load(.running), running > 0 {
        return cr_replace_callback(memory.chain[Int(running - 1)], function, argument, flags)
    }
    if let row = Chain.row(for: currentThread(), create: false), row[3] == 1 {
        return cr_replace_callback(row[2], function, argument, flags)
    }
    return fail(LibCR.eNotCallback)  // BLCR: -1 with errno CR_ENOTCB (cr_core.c, CRI_CB_INFO_OR_RETURN(-1))
}

@_cdecl("cr_checkpoint")
public func cr_checkpoint(_ flags: Int32) -> Int32 {
    if Chain.agentThread == currentThread(), case let running = memory.load(.running), running > 0 {
        return Chain.checkpointCalled(depth: Int(running - 1), flags: flags)
    }
    if let row = Chain.row(for: currentThread(), create: false), row[3] == 1 {
        return Chain.signalCheckpointCalled(row, flags: flags)
    }
    return -LibCR.eNotCallback
}

// BLCR's calls that need the calling thread's cr_init() fail before it with
// -1 and errno CR_ENOINIT (cr_private.h, CRI_INFO_OR_RETURN).

@_cdecl("cr_status")
public func cr_status() -> Int32 {
    guard threadInitialized() else { return fail(LibCR.eNoInit) }
    return memory.load(.status)
}

@_cdecl("cr_enter_cs")
public func cr_enter_cs(_ id: Int32) -> Int32 {
    guard threadInitialized() else { return fail(LibCR.eNoInit) }
    if id == -1 || insideCallback() { return 0 }  // CR_ID_CALLBACK: the checkpoint is already ours
    while true {
        memory.add(.sections, 1)
        guard case let status = memory.load(.status), status != Agent.idle else { return 0 }
        // A checkpoint is pending or running: step back and wait for it.
        if memory.add(.sections, -1) == 0 { Futex.wake(.sections) }
        Futex.wait(.status, while: status)
    }
}

@_cdecl("cr_tryenter_cs")
public func cr_tryenter_cs(_ id: Int32) -> Int32 {
    guard threadInitialized() else { return fail(LibCR.eNoInit) }
    if id == -1 || insideCallback() { return 0 }
    memory.add(.sections, 1)
    if memory.load(.status) == Agent.idle { return 0 }
    if memory.add(.sections, -1) == 0 { Futex.wake(.sections) }
    return 1
}

@_cdecl("cr_leave_cs")
public func cr_leave_cs(_ id: Int32) -> Int32 {
    guard threadInitialized() else { return fail(LibCR.eNoInit) }
    if id == -1 || insideCallback() { return 0 }
    guard memory.load(.sections) > 0 else { return fail(EINVAL) }
    if memory.add(.sections, -1) == 0 {
        Futex.wake(.sections)
        // Leaving the last section lets a pending checkpoint happen before we return.
        while case let status = memory.load(.status), status != Agent.idle { Futex.wait(.status, while: status) }
    }
    return 0
}

@_cdecl("cr_get_checkpoint_info")
public func cr_get_checkpoint_info() -> UnsafeRawPointer? {
    insideCallback() && memory.load(.status) == Agent.active ? UnsafeRawPointer(memory.checkpointInfo) : nil
}

@_cdecl("cr_get_restart_info")
public func cr_get_restart_info() -> UnsafeRawPointer? {
    memory.load(.generation) > 0 ? UnsafeRawPointer(memory.restartInfo) : nil
}

@_cdecl("cr_forward_checkpoint")
public func cr_forward_checkpoint(_ scope: Int32, _ pid: pid_t) -> Int32 {
    guard insideCallback(), memory.load(.status) == Agent.active else { return fail(LibCR.eNotCallback) }
    guard (0...3).contains(scope), pid > 0 else { return fail(EINVAL) }
    let refused = Agent.askForward(scope: scope, pid: pid)
    guard refused == 0 else { return fail(refused) }
    guard Forwards.add(scope: scope, pid: pid) else { return fail(ENOSPC) }
    return 0
}

@_cdecl("cr_register_hook")
public func cr_register_hook(_ event: Int32, _ function: CRHook?) -> CRHook? {
    let error = unsafeBitCast(~UInt(0), to: CRHook?.self)  // CR_HOOK_FN_ERROR
    guard threadInitialized() else {
        errno = LibCR.eNoInit
        return error
    }
    // BLCR (cr_core.c) refuses an event out of range and the error value itself as a hook.
    guard (0..<6).contains(event), unsafeBitCast(function, to: UInt.self) != ~UInt(0) else {
        errno = EINVAL
        return error
    }
    let old = memory.hooks[Int(event)]
    memory.hooks[Int(event)] = function
    return old
}

nonisolated(unsafe) private var holdFlags: Int32 = 4  // CR_HOLD_DFLT
nonisolated(unsafe) private var persistCount: Int32 = 0

@_cdecl("cr_hold_ctrl")
public func cr_hold_ctrl(_ scope: Int32, _ flags: Int32) -> Int32 {
    guard (0...2).contains(scope), (-1...4).contains(flags) else { return fail(EINVAL) }
    let old = holdFlags
    if flags != -1 { holdFlags = flags }
    return old
}

/// BLCR (cr_core.c): the count before the change, or -1 with ERANGE where
/// it would overflow or go below 0 (CR_ENOINIT before cr_init()).
@_cdecl("cr_inc_persist")
public func cr_inc_persist() -> Int32 { changePersist(by: 1) }

@_cdecl("cr_dec_persist")
public func cr_dec_persist() -> Int32 { changePersist(by: -1) }

private func changePersist(by step: Int32) -> Int32 {
    guard threadInitialized() else { return fail(LibCR.eNoInit) }
    while true {
        let old = cr_atomic_load(&persistCount)
        guard step > 0 ? old < Int32.max : old > 0 else { return fail(ERANGE) }
        if cr_atomic_cas(&persistCount, old, old + step) != 0 { return old }
    }
}

@_cdecl("cr_spinlock_init")
public func cr_spinlock_init(_ lock: UnsafeMutablePointer<UInt32>?) { lock?.withMemoryRebound(to: Int32.self, capacity: 1) { cr_atomic_store($0, 0) } }

@_cdecl("cr_spinlock_lock")
public func cr_spinlock_lock(_ lock: UnsafeMutablePointer<UInt32>?) {
    lock?.withMemoryRebound(to: Int32.self, capacity: 1) { p in while cr_atomic_cas(p, 0, 1) == 0 { sched_yield() } }
}

@_cdecl("cr_spinlock_unlock")
public func cr_spinlock_unlock(_ lock: UnsafeMutablePointer<UInt32>?) { lock?.withMemoryRebound(to: Int32.self, capacity: 1) { cr_atomic_store($0, 0) } }

@_cdecl("cr_spinlock_trylock")
public func cr_spinlock_trylock(_ lock: UnsafeMutablePointer<UInt32>?) -> Int32 {
    lock?.withMemoryRebound(to: Int32.self, capacity: 1) { cr_atomic_cas($0, 0, 1) } ?? 0
}

@_cdecl("cr_strerror")
public func cr_strerror(_ number: Int32) -> UnsafePointer<CChar>? { ErrorText.text(number) }

// Link-time markers: -lcr_run -u cr_run_link_me, -lcr_omit -u cr_omit_link_me, -u cr_link_me.
@_cdecl("cr_link_me") public func cr_link_me() {}
@_cdecl("cr_run_link_me") public func cr_run_link_me() {}
@_cdecl("cr_omit_link_me") public func cr_omit_link_me() {}

/// cr_forward_checkpoint() entries, sent with the READY reply.
enum Forwards {
    static let capacity = 16
    nonisolated(unsafe) static var count = 0
    nonisolated(unsafe) static var entries = [(Int32, pid_t)](repeating: (0, 0), count: 16)
    static func add(scope: Int32, pid: pid_t) -> Bool {
        guard count < capacity else { return false }
        entries[count] = (scope, pid)
        count += 1
        return true
    }
}
