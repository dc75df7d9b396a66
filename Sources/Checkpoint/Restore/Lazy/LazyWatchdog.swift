import Glibc
import LinuxKit

/// If the restorer dies while processes still wait for pages, their
/// userfaultfds close with it and the missing pages would read as zeros: a
/// process that ran on would compute with wrong memory. A small child of
/// the restorer holds pidfds of those processes and the read end of a pipe
/// whose write end only the restorer has; end of file without the "done"
/// byte first means the restorer is gone, and the child kills them.
/// (Children they fork during the lazy phase are not covered.) It holds
/// nothing else of the restorer's: no copy of a userfaultfd.
final class LazyWatchdog {
    private let pid: pid_t
    private let pipeWrite: Int32

    init?(watching pids: [pid_t]) {
        var p: [Int32] = [0, 0]
        guard pipe(&p) == 0 else { return nil }
        _ = fcntl(p[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(p[1], F_SETFD, FD_CLOEXEC)
        let pidfds = UnsafeMutablePointer<Int32>.allocate(capacity: max(pids.count, 1))
        defer { pidfds.deallocate() }
        var count = 0
        for pid in pids {
            let fd = Int32(truncatingIfNeeded: Syscall.raw(NR.pidfd_open, Int(pid), 0))
            if fd >= 0 { pidfds[count] = fd; count += 1 }
        }
        let readEnd = p[0], n = count
        // What the child keeps, in order: every other descriptor of ours is
        // closed there. Its copies of the processes' userfaultfds would keep
        // their ranges registered after the restorer closes its own to let
        // a process go early (LazyPager.fillEverything).
        let keep = UnsafeMutablePointer<Int32>.allocate(capacity: count + 1)
        defer { keep.deallocate() }
        for k in 0..<count { keep[k] = pidfds[k] }
        keep[count] = readEnd
        var sorted = UnsafeMutableBufferPointer(start: keep, count: count + 1)
        sorted.sort()
        let spawned = RawChild.spawn {
            // System calls only (a copy of a multithreaded process).
            var low = 0
            for k in 0...n {
                if Int(keep[k]) > low { _ = Syscall.raw(NR.close_range, low, Int(keep[k]) - 1, 0) }
                low = Int(keep[k]) + 1
            }
            _ = Syscall.raw(NR.close_range, low, Int(UInt32.max), 0)
            var byte: UInt8 = 0
            var got = 0
            repeat { got = withUnsafeMutablePointer(to: &byte) { Syscall.raw(NR.read, Int(readEnd), Int(bitPattern: $0), 1) } } while got < 0
            if got == 0 {
                for k in 0..<n { _ = Syscall.raw(NR.pidfdSendSignal, Int(pidfds[k]), Int(SIGKILL), 0, 0) }
            }
            Syscall.exitGroup(0)
        }
        for k in 0..<count { close(pidfds[k]) }
        close(readEnd)
        guard case .success(let child) = spawned else { close(p[1]); return nil }
        pid = child
        pipeWrite = p[1]
    }

    /// Every page is in: the watchdog leaves without doing anything.
    func release() {
        var done: UInt8 = 1
        _ = write(pipeWrite, &done, 1)
        close(pipeWrite)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
}
