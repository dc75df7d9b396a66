import CLibCR

import AgentWire
import Glibc

public typealias CRCallback = @convention(c) (UnsafeMutableRawPointer?) -> Int32
public typealias CRHook = @convention(c) (Int32) -> Void

/// Everything libcr keeps lives in memory allocated once, when the library
/// is loaded: the signal handler then reads and writes it without
/// allocating, and without Swift's lazy globals doing anything on its behalf.
enum LibCR {
    static let checkpointSignal = AgentWire.signal  // CR_SIGNUM
    static let threadContext: Int32 = 0x400_0000
    static let signalContext: Int32 = 0x200_0000
    static let slotCount = 256
    static let threadCount = 64

    // cr_checkpoint() flags and BLCR error numbers.
    static let omit: Int32 = 4, tempFailure: Int32 = 1, permFailure: Int32 = 2
    static let eTempFail: Int32 = 2354, ePermFail: Int32 = 2355, eNoSupport: Int32 = 2356, eOmitted: Int32 = 2358
    static let eRestarted: Int32 = 2363, eNotCallback: Int32 = 2364, eNoInit: Int32 = 2365
}

/// One registered callback.
struct Slot {
    var function: CRCallback?
    var argument: UnsafeMutableRawPointer?
    var signalContext: Bool
    /// The registering thread: signal-context callbacks run in it.
    var thread: pid_t
    var used: Bool
}

/// Shared integer cells, read and written with C11 atomics.
enum Cell: Int, CaseIterable {
    /// CR_STATE_IDLE / PENDING / ACTIVE
    case status
    /// Critical sections held (all threads).
    case sections
    /// Checkpoint requests waiting for the agent: (checkpointer pid, token,
    /// the pid SO_PEERCRED shows for the checkpointer here).
    case requestPid, requestToken, requestPeer
    /// The agent thread's wake pipe, and the result pipe the checkpointer or restorer writes.
    case wakeRead, wakeWrite, resultRead, resultWrite
    /// 1 once cr_init started the agent thread; 1 in libcr_omit.
    case agentRunning, omitMode
    /// Signal-context phase: threads signalled, threads that reached cr_checkpoint, result round,
    /// threads whose callbacks have all returned after it.
    case signalled, ready, round, roundResult, finished
    /// Failure flags a callback gave (OMIT/TEMP/PERM with user code), 0 if none.
    case failure
    /// Incremented by every restart, so requests made before one can tell.
    case generation
    /// Slot table lock (spinlock), and the callback being run by the agent (index+1, 0 none).
    case slotLock, running
    /// 1 from the moment the handler hands a request to the agent thread until it is served.
    case serving
    /// A pidfd (ours) of the tool behind a self-request that marked the process PENDING, -1 if none.
    case pendingTool
    /// NO_CALLBACKS hooks: the event to run, and threads signalled that have not yet run it.
    case hookEvent, hooksPending
    /// The request's flags (AgentWire.Request: PROHIBIT_SELF, answers forwards); a lock for asking about a forward.
    case requestFlags, forwardLock
    case count
}

struct Memory {
    let cells: UnsafeMutablePointer<Int32>
    let slots: UnsafeMutablePointer<Slot>
    /// Per-thread state of the signal-context chain: tid, next position, flag "cr_checkpoint called".
    let threads: UnsafeMutablePointer<Int32>
    /// Each row's thread, by pthread_self().
    let threadKeys: UnsafeMutablePointer<UInt>
    /// Agent thread's chain: slot indices and per-depth "cr_checkpoint called".
    let chain: UnsafeMutablePointer<Int32>
    let chainCalled: UnsafeMutablePointer<Int32>
    /// struct cr_checkpoint_info and cr_restart_info, with their strings.
    let checkpointInfo: UnsafeMutableRawPointer
    let restartInfo: UnsafeMutableRawPointer
    let destination: UnsafeMutablePointer<CChar>
    let source: UnsafeMutablePointer<CChar>
    /// Scratch for socket messages and names.
    let message: UnsafeMutableRawPointer
    /// The handler's own scratch for a BUSY reply (the agent thread is using `message`).
    let busyMessage: UnsafeMutableRawPointer
    /// A callback's question about a forward, and its answer.
    let forwardMessage: UnsafeMutableRawPointer
    let hooks: UnsafeMutablePointer<CRHook?>
    let errorText: UnsafeMutablePointer<CChar>
    /// pipe2's two descriptors in a forked child (which may not allocate).
    let forkPipe: UnsafeMutablePointer<Int32>

    static let messageSize = 8192

    init() {
        cells = .allocate(capacity: Cell.count.rawValue)
        cells.initialize(repeating: 0, count: Cell.count.rawValue)
        slots = .allocate(capacity: LibCR.slotCount)
        slots.initialize(repeating: Slot(function: nil, argument: nil, signalContext: false, thread: 0, used: false), count: LibCR.slotCount)
        threads = .allocate(capacity: LibCR.threadCount * 4)
        threads.initialize(repeating: 0, count: LibCR.threadCount * 4)
        threadKeys = .allocate(capacity: LibCR.threadCount)
        threadKeys.initialize(repeating: 0, count: LibCR.threadCount)
        chain = .allocate(capacity: LibCR.slotCount)
        chain.initialize(repeating: -1, count: LibCR.slotCount)
        chainCalled = .allocate(capacity: LibCR.slotCount + 1)
        chainCalled.initialize(repeating: 0, count: LibCR.slotCount + 1)
        checkpointInfo = .allocate(byteCount: 32, alignment: 8)
        checkpointInfo.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
        restartInfo = .allocate(byteCount: 16, alignment: 8)
        restartInfo.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        destination = .allocate(capacity: 4096)
        destination.initialize(repeating: 0, count: 4096)
        source = .allocate(capacity: 4096)
        source.initialize(repeating: 0, count: 4096)
        message = .allocate(byteCount: Self.messageSize, alignment: 8)
        busyMessage = .allocate(byteCount: 256, alignment: 8)
        forwardMessage = .allocate(byteCount: 64, alignment: 8)
        hooks = .allocate(capacity: 6)
        hooks.initialize(repeating: nil, count: 6)
        errorText = .allocate(capacity: 128)
        errorText.initialize(repeating: 0, count: 128)
        forkPipe = .allocate(capacity: 2)
        forkPipe.initialize(repeating: -1, count: 2)
    }

    func cell(_ c: Cell) -> UnsafeMutablePointer<Int32> { cells + c.rawValue }
    func load(_ c: Cell) -> Int32 { cr_atomic_load(cell(c)) }
    func store(_ c: Cell, _ v: Int32) { cr_atomic_store(cell(c), v) }
    @discardableResult func add(_ c: Cell, _ v: Int32) -> Int32 { cr_atomic_add(cell(c), v) }
    func exchange(_ c: Cell, expecting e: Int32, _ v: Int32) -> Bool { cr_atomic_cas(cell(c), e, v) != 0 }
}

/// Made when the library loads (the constructor touches it first).
nonisolated(unsafe) let memory = Memory()

/// futex(2) on a cell: sleep while it holds `value`; wake everyone sleeping on it.
enum Futex {
    static func wait(_ c: Cell, while value: Int32) {
        _ = cr_syscall6(Int(SYS_futex), Int(bitPattern: memory.cell(c)), 128 /* FUTEX_WAIT_PRIVATE */, Int(value), 0, 0, 0)
    }
    /// As `wait`, for at most `seconds`.
    static func wait(_ c: Cell, while value: Int32, seconds: Double) {
        var t = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        _ = withUnsafeMutablePointer(to: &t) {
            cr_syscall6(Int(SYS_futex), Int(bitPattern: memory.cell(c)), 128 /* FUTEX_WAIT_PRIVATE */, Int(value), Int(bitPattern: $0), 0, 0)
        }
    }
    static func wake(_ c: Cell) {
        _ = cr_syscall6(Int(SYS_futex), Int(bitPattern: memory.cell(c)), 129 /* FUTEX_WAKE_PRIVATE */, Int(Int32.max), 0, 0, 0)
    }
}

/// The slot table lock, a spinlock usable from signal handlers.
enum SlotLock {
    static func lock() { while !memory.exchange(.slotLock, expecting: 0, 1) { sched_yield() } }
    static func unlock() { memory.store(.slotLock, 0) }
}

func currentThread() -> pid_t { pid_t(cr_syscall6(Int(SYS_gettid), 0, 0, 0, 0, 0, 0)) }
