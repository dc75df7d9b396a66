import Dispatch
import Glibc
import LinuxKit

/// /proc/PID/smaps read and parsed on a thread of its own while the
/// collection parks the threads and injects its calls: the kernel walks
/// every page table for it (3 ms for 64 MiB, 12 for 512 here), and only
/// the mapping records need what it alone says (VmFlags). What comes
/// before them (the injection's trampoline, instruction and stack) takes
/// /proc/PID/maps. The process is frozen, so both list the same mappings.
final class SmapsRead: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var parsed: Result<[MapsEntry], Error> = .success([])
    private var waited = false

    /// Read on a CPU other than the caller's (which injects the calls, pinned to the target's).
    init(pid: pid_t) {
        let tracerCPU = Syscall.currentCPU()
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            let path = "/proc/\(pid)/smaps"
            CPUPin.off(tracerCPU) { parsed = Result { try ProcMaps.parseSmaps(try Sys.readText(path), file: path) } }
            done.signal()
        }
    }

    /// The mappings with their VmFlags; waits for the read.
    func result() throws -> [MapsEntry] {
        if !waited {
            done.wait()
            waited = true
        }
        return try parsed.get()
    }

    /// Waits for the read to end, whatever the collection's outcome (the thread must not outlive the process's state).
    deinit { if !waited { done.wait() } }
}
