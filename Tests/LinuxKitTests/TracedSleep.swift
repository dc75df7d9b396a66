import Glibc
import LinuxKit
import XCTest

/// A `sleep 100` spawned, seized and stopped, with an injector on its
/// thread: what the injection tests run their calls in. The caller kills
/// and reaps `pid`.
struct TracedSleep {
    let pid: pid_t
    let injector: SyscallInjector

    static func start() throws -> TracedSleep {
        var p: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("100"), nil]
        defer { for a in argv { free(a) } }
        XCTAssertEqual(posix_spawn(&p, "/bin/sleep", nil, nil, &argv, environ), 0)
        usleep(100_000)
        do {
            try Ptrace.seize(p)
            try Ptrace.interrupt(p)
            _ = try Ptrace.wait(p)
            let regs = try Ptrace.registers(p)
            let maps = try ProcMaps.parse(try Sys.readText("/proc/\(p)/maps"))
            let injector = SyscallInjector(tid: p, instruction: try SyscallInjector.findInstruction(pid: p, registers: regs, maps: maps), template: regs)
            return TracedSleep(pid: p, injector: injector)
        } catch {
            kill(p, SIGKILL)
            var status: Int32 = 0
            waitpid(p, &status, __WALL)
            throw error
        }
    }
}
