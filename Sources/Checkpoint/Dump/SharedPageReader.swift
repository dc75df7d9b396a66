import LinuxKit

/// Pages a process shares copy-on-write with another are read through
/// /proc/PID/mem (RemoteMemory.readViaProcMem): process_vm_readv pins the
/// pages it reads, and the kernel unshares a shared anonymous page it pins,
/// so a checkpoint that lets the processes run on would leave them two
/// copies where they had one.
enum SharedPageReader {
    /// Fills `buffer` with the ranges in order: the shared ones through
    /// /proc/PID/mem, each run of the others with one process_vm_readv.
    static func read(_ ranges: [(address: UInt64, length: Int)], shared: [Bool], into buffer: UnsafeMutableRawBufferPointer, from memory: RemoteMemory) throws {
        var offset = 0
        var i = 0
        while i < ranges.count {
            var j = i
            var length = 0
            while j < ranges.count && shared[j] == shared[i] { length += ranges[j].length; j += 1 }
            if shared[i] {
                var at = offset
                for r in ranges[i..<j] {
                    try memory.readViaProcMem(address: r.address, into: UnsafeMutableRawBufferPointer(rebasing: buffer[at..<(at + r.length)]))
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
