import Glibc
import LinuxKit
import SystemPackage

/// Reads pages a process shares copy-on-write with another through
/// /proc/PID/mem. process_vm_readv pins the pages it reads, and the kernel
/// unshares a shared anonymous page it pins: a checkpoint that lets the
/// processes run on would leave them two copies where they had one.
final class SharedPageReader {
    private let fd: Int32

    init(pid: pid_t) {
        fd = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
    }

    func close() { if fd >= 0 { _ = Glibc.close(fd) } }

    /// Fills `buffer` with the ranges in order: the shared ones from
    /// /proc/PID/mem, runs of the others with one process_vm_readv.
    func read(_ ranges: [(address: UInt64, length: Int)], shared: [Bool], into buffer: UnsafeMutableRawBufferPointer, others memory: RemoteMemory) throws {
        guard fd >= 0, let base = buffer.baseAddress else {
            try memory.read(ranges: ranges, into: buffer)
            return
        }
        var offset = 0
        var i = 0
        while i < ranges.count {
            var j = i
            var length = 0
            while j < ranges.count && shared[j] == shared[i] { length += ranges[j].length; j += 1 }
            if shared[i] {
                var at = offset
                for r in ranges[i..<j] {
                    var done = 0
                    while done < r.length {
                        let n = pread(fd, base + at + done, r.length - done, off_t(truncatingIfNeeded: r.address + UInt64(done)))
                        if n < 0 && errno == EINTR { continue }
                        guard n > 0 else { throw SystemCallError("pread(/proc/PID/mem at 0x\(String(r.address, radix: 16)))", Errno(rawValue: n < 0 ? errno : EIO)) }
                        done += n
                    }
                    at += r.length
                }
            } else {
                try memory.read(ranges: Array(ranges[i..<j]), into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + length)]))
            }
            offset += length
            i = j
        }
    }
}
