import Glibc
import LinuxKit
import XCTest

/// Lists of calls run by SyscallProgram's loop inside a traced process:
/// every call runs, in order; a failure stops the list, is named, and every
/// call after it throws it too until the caller takes it (discardQueued).
final class SyscallProgramTests: XCTestCase {
    private var pid: pid_t = 0

    override func tearDown() {
        if pid > 0 {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// A stopped `sleep` with the loop on a page of its own and a table page.
    private func tracedSleep() throws -> (injector: SyscallInjector, region: UInt64) {
        let traced = try TracedSleep.start()
        pid = traced.pid
        let injector = traced.injector
        let anonymous = UInt64(MAP_PRIVATE | MAP_ANONYMOUS)
        let code = try injector.call("mmap", NR.mmap, 0, 4096, UInt64(PROT_READ | PROT_WRITE), anonymous, .max, 0)
        try RemoteMemory(pid: pid).write(address: code, bytes: SyscallProgram.code)
        try injector.call("mprotect", NR.mprotect, code, 4096, UInt64(PROT_READ | PROT_EXEC))
        let table = try injector.call("mmap", NR.mmap, 0, 8192, UInt64(PROT_READ | PROT_WRITE), anonymous, .max, 0)
        // 64 pages reserved for the calls to map over.
        let region = try injector.call("mmap", NR.mmap, 0, 64 * 4096, UInt64(PROT_NONE), anonymous, .max, 0)
        injector.program = (code, table, 8192 / SyscallProgram.entrySize - 1)
        return (injector, region)
    }

    private func protections(from start: UInt64, pages: Int) throws -> [String] {
        let maps = try ProcMaps.parse(try Sys.readText("/proc/\(pid)/maps"))
        return (0..<pages).map { k in
            let at = start + UInt64(k) * 4096
            return maps.first { $0.start <= at && at < $0.end }.map { String($0.protectionString.prefix(3)) } ?? "none"
        }
    }

    func testSeededListsRunEveryCallInOrder() throws {
        let (injector, region) = try tracedSleep()
        var state = UInt64(ProcessInfoSeed.value)
        func next(_ bound: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % UInt64(bound)) }
        let modes = [PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC]
        let names = ["---", "r--", "rw-", "r-x"]
        var expected = [String](repeating: "---", count: 64)
        // More calls than one table holds: the list runs in several pieces.
        for _ in 0..<(300 + next(200)) {
            let page = next(64), count = 1 + next(min(4, 64 - page)), mode = next(modes.count)
            let at = region + UInt64(page) * 4096
            if next(2) == 0 {
                try injector.queue("mmap", NR.mmap, at, UInt64(count) * 4096, UInt64(modes[mode]), UInt64(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), .max, 0)
            } else {
                try injector.queue("mprotect", NR.mprotect, at, UInt64(count) * 4096, UInt64(modes[mode]))
            }
            for k in page..<(page + count) { expected[k] = names[mode] }
        }
        // The loop's int3 is a forced SIGTRAP, which the kernel unblocks: the mask must come back whole.
        let blocked = UInt64.max & ~(UInt64(1) << (SIGKILL - 1)) & ~(UInt64(1) << (SIGSTOP - 1))
        try Ptrace.setSignalMask(pid, blocked)
        try injector.flush()
        XCTAssertEqual(try protections(from: region, pages: 64), expected)
        XCTAssertEqual(try Ptrace.signalMask(pid), blocked, "the thread's signal mask after a list")
    }

    func testAFailedCallStopsTheListAndIsThrownUntilSomeoneTakesIt() throws {
        let (injector, region) = try tracedSleep()
        try injector.queue("mprotect(first)", NR.mprotect, region, 4096, UInt64(PROT_READ))
        try injector.queue("munmap(unaligned)", NR.munmap, region + 1, 4096)
        try injector.queue("mprotect(after)", NR.mprotect, region + 4096, 4096, UInt64(PROT_READ))
        XCTAssertThrowsError(try injector.flush()) { e in
            XCTAssertTrue("\(e)".contains("munmap(unaligned)"), "\(e)")
        }
        XCTAssertEqual(try protections(from: region, pages: 2), ["r--", "---"], "the call after the failure did not run")
        injector.discardQueued()
        XCTAssertEqual(try injector.raw(NR.getpid), Int64(pid), "calls run again once the failure is taken")
        // A caller that ignores errors runs the list; every call after it fails the same way.
        try injector.queue("munmap(unaligned again)", NR.munmap, region + 1, 4096)
        _ = try? injector.raw(NR.getpid)
        XCTAssertThrowsError(try injector.raw(NR.getpid)) { e in
            XCTAssertTrue("\(e)".contains("unaligned again"), "\(e)")
        }
        injector.discardQueued()
        XCTAssertEqual(try injector.raw(NR.getpid), Int64(pid))
    }
}

/// SWIFTCR_SEED if set (as the rest of the suite), else the clock; printed to run again.
enum ProcessInfoSeed {
    static let value: Int = {
        var v = getenv("SWIFTCR_SEED").flatMap { Int(String(cString: $0)) } ?? 0
        if v == 0 {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            v = ts.tv_nsec / 1000 % 1_000_000 + 1
        }
        print("call-lists seed \(v) (rerun with SWIFTCR_SEED=\(v))")
        return v
    }()
}
