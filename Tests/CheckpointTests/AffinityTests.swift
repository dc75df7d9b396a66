import Foundation
import Glibc
import LinuxKit
import Logging
import Synchronization
import XCTest
@testable import Checkpoint

/// The checkpointer pins its injecting thread to the target's CPU. Threads
/// made meanwhile (dispatch pool threads inherit their maker's affinity)
/// must not stay on that one CPU: the pool later runs the image writer on
/// them, and a writer sharing the reader's CPU halves the dump's speed.
final class AffinityTests: XCTestCase {
    private final class PlainFile: ImageDestination {
        let fd: Int32
        init(_ path: String) throws {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            if fd < 0 { throw CheckpointError(errno, "open \(path)") }
        }
        func commit() throws {}
        func discard() {}
        deinit { close(fd) }
    }

    func testNoThreadStaysPinnedAfterACheckpoint() throws {
        var mask = [UInt64](repeating: 0, count: 16)
        guard Syscall.affinity(of: 0, into: &mask) > 0 else { return XCTFail("sched_getaffinity") }
        let cpus = mask.reduce(0) { $0 + $1.nonzeroBitCount }
        try XCTSkipIf(cpus < 2, "one CPU: nothing to pin away from")
        let before = Self.allowedLists()
        let child = try Child(["/bin/sh", "-c", "echo READY; exec sleep 30"])
        defer { kill(child.pid, SIGKILL); _ = child.wait() }
        XCTAssertTrue(child.read(until: "READY"), child.output)
        let path = "/tmp/swiftcr-affinity-\(getpid()).img"
        defer { unlink(path) }
        // Several checkpoints: the target may sit on either CPU each time.
        for _ in 0..<4 {
            var options = CheckpointOptions(pid: child.pid)
            options.verifyImage = false
            _ = try Checkpointer.checkpoint(options, to: try PlainFile(path), log: Logger(label: "test"))
            usleep(20_000)
        }
        let wanted = Set(before.values).first ?? ""
        for (tid, allowed) in Self.allowedLists() {
            XCTAssertEqual(allowed, wanted, "thread \(tid) is left on CPUs \(allowed), the process had \(wanted)")
        }
    }

    /// A thread made by a pinned thread starts on its one CPU; `CPUPin.off`
    /// runs the work elsewhere and then gives the thread every CPU the
    /// process had before the first pin, not the one it was born with.
    func testWorkMovedOffThePinnedCPULeavesItsThreadUnpinned() throws {
        var all = [UInt64](repeating: 0, count: 16)
        guard Syscall.affinity(of: 0, into: &all) > 0 else { return XCTFail("sched_getaffinity") }
        try XCTSkipIf(all.reduce(0) { $0 + $1.nonzeroBitCount } < 2, "one CPU: nothing to pin away from")
        let cpu = Syscall.currentCPU() ?? 0
        var pin = CPUPin()
        pin.pinCurrentThread(to: cpu)
        defer { pin.unpinCurrentThread() }
        let seen = Mutex<(inside: [UInt64], after: [UInt64], born: [UInt64])>(([], [], []))
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var born = [UInt64](repeating: 0, count: 16), inside = born, after = born
            _ = Syscall.affinity(of: 0, into: &born)
            CPUPin.off(cpu) { _ = Syscall.affinity(of: 0, into: &inside) }
            _ = Syscall.affinity(of: 0, into: &after)
            seen.withLock { $0 = (inside, after, born) }
            done.signal()
        }
        thread.start()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        let (inside, after, born) = seen.withLock { $0 }
        let bit = UInt64(1) << UInt64(cpu % 64)
        XCTAssertEqual(born[cpu / 64], bit, "a thread made by a pinned thread starts pinned (the premise)")
        XCTAssertEqual(inside[cpu / 64] & bit, 0, "the work runs off CPU \(cpu)")
        XCTAssertEqual(after, all, "the thread ends with every CPU the process had")
    }

    /// Cpus_allowed_list of each of our threads.
    static func allowedLists() -> [pid_t: String] {
        var lists: [pid_t: String] = [:]
        for tid in (try? Sys.numericEntries("/proc/self/task")) ?? [] {
            guard let status = try? ProcStatus.read(pid: tid) else { continue }
            lists[tid] = status.fields["Cpus_allowed_list"]
        }
        return lists
    }
}
