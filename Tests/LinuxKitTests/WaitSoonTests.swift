import Glibc
import LinuxKit
import XCTest

/// Injected calls wait for their stops by polling first (Ptrace.waitSoon):
/// a stop that comes at once, one that comes long after the polling gave
/// up, and a death in the middle of a call must each be reported as a
/// blocking wait would.
final class WaitSoonTests: XCTestCase {
    private var pid: pid_t = 0

    override func tearDown() {
        if pid > 0 {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, __WALL)
        }
    }

    private func tracedSleep() throws -> SyscallInjector {
        let traced = try TracedSleep.start()
        pid = traced.pid
        return traced.injector
    }

    private func seconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    func testQuickCallsReturnTheirOwnResults() throws {
        let injector = try tracedSleep()
        var state = UInt64(ProcessInfoSeed.value)
        for _ in 0..<300 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            // getpid, or kill(itself, 0): seeded, so a result left over from the call before shows.
            if (state >> 33) & 1 == 0 {
                XCTAssertEqual(try injector.call("getpid", NR.getpid), UInt64(pid))
            } else {
                XCTAssertEqual(try injector.raw(NR.kill, UInt64(pid), 0), 0)
            }
        }
    }

    /// nanosleep(300 ms): its exit stop comes long after the polling gives
    /// up, and the blocking wait behind it must still take it.
    func testAStopAfterThePollingIsStillTaken() throws {
        let injector = try tracedSleep()
        let memory = RemoteMemory(pid: pid)
        let scratch = try injector.call("mmap", NR.mmap, 0, 4096, UInt64(PROT_READ | PROT_WRITE), UInt64(MAP_PRIVATE | MAP_ANONYMOUS), .max, 0)
        var request = timespec(tv_sec: 0, tv_nsec: 300_000_000)
        try memory.write(address: scratch, bytes: withUnsafeBytes(of: &request) { Array($0) })
        let start = seconds()
        XCTAssertEqual(try injector.raw(NR.nanosleep, scratch, 0), 0)
        XCTAssertGreaterThanOrEqual(seconds() - start, 0.29)
        XCTAssertEqual(try injector.call("getpid", NR.getpid), UInt64(pid), "the thread goes on after the long call")
    }

    /// A process killed while its injected call blocks: the call fails
    /// naming the signal, after the polling has given up.
    func testADeathDuringACallIsReported() throws {
        let injector = try tracedSleep()
        let victim = pid
        var killer = pthread_t()
        let started = pthread_create(&killer, nil, { arg in
            usleep(400_000)
            kill(pid_t(Int(bitPattern: arg)), SIGKILL)
            return nil
        }, UnsafeMutableRawPointer(bitPattern: Int(victim)))
        XCTAssertEqual(started, 0)
        XCTAssertThrowsError(try injector.raw(NR.pause)) { error in
            XCTAssertTrue("\(error)".contains("killed by signal 9"), "\(error)")
        }
        pthread_join(killer, nil)
        pid = 0  // reaped by the failed wait
    }
}
