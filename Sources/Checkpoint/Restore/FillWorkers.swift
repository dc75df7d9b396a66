import Dispatch

/// The worker threads that put sections' pages into their processes
/// (FrameFill, MappedFill): one serial queue each, taken in turn (libdispatch
/// sizes its shared pool by the CPUs the process may use when it starts it,
/// one in a restorer pinned to its CPU), at most two jobs per worker on
/// their way. The first failure is kept; jobs queued after it are skipped,
/// and the caller gets it at its next `run` or `wait`.
final class FillWorkers: @unchecked Sendable {  // `lock` guards `failure`; `next` is the caller's
    let count: Int
    private let queues: [DispatchQueue]
    private var next = 0
    private let group = DispatchGroup()
    /// Jobs queued and not yet done: bounds what they hold.
    private let slots: DispatchSemaphore
    private let lock = NSLockLite()
    private var failure: Error?
    private let prepareThread: @Sendable () -> Void

    init(label: String, threads: Int, prepareThread: @escaping @Sendable () -> Void) {
        count = max(1, threads)
        queues = (0..<count).map { DispatchQueue(label: "\(label).\($0)") }
        slots = DispatchSemaphore(value: 2 * count)
        self.prepareThread = prepareThread
    }

    /// Throws what an earlier job ran into.
    func rethrowFailure() throws {
        if let e = lock.withLock({ failure }) { throw e }
    }

    /// Queues `job` for the next worker (given its index), once fewer than
    /// two per worker are on their way. `cleanup` runs after it, or in its
    /// place when an earlier job failed.
    func run(_ job: @escaping @Sendable (_ worker: Int) throws -> Void, cleanup: @escaping @Sendable () -> Void = {}) {
        slots.wait()
        let worker = next
        next = (next + 1) % count
        group.enter()
        queues[worker].async { [self] in
            defer { cleanup(); slots.signal(); group.leave() }
            prepareThread()
            guard lock.withLock({ failure == nil }) else { return }
            do { try job(worker) } catch { lock.withLock { if failure == nil { failure = error } } }
        }
    }

    /// Every job queued is done; throws the first failure.
    func wait() throws {
        group.wait()
        try rethrowFailure()
    }

    /// Waits for the workers without throwing (a restore that failed elsewhere).
    func drain() { group.wait() }
}
