import CheckpointImage
import Glibc
import LinuxKit

/// The NUMA memory policies mappings have of their own (mbind; numactl and
/// hwloc set them), read while the process is frozen.
enum MemoryPolicies {
    /// /proc/PID/numa_maps names a policy for each mapping: its own, or the
    /// thread's where it has none. A mapping it names other than "default"
    /// is asked exactly (get_mempolicy with MPOL_F_ADDR gives its own only),
    /// in the thread of `session`, which needs scratch memory.
    static func collect(pid: pid_t, session: RemoteSession, into mappings: inout [Mapping]) throws {
        guard let text = try? Sys.readText("/proc/\(pid)/numa_maps") else { return }
        var index: [UInt64: Int] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count >= 2, fields[1] != "default", let start = UInt64(fields[0], radix: 16) else { continue }
            if index.isEmpty { index = Dictionary(mappings.indices.map { (mappings[$0].start, $0) }, uniquingKeysWith: { a, _ in a }) }
            guard let k = index[start], mappings[k].kind != .vdso, mappings[k].kind != .kernelFixed else { continue }
            mappings[k].memoryPolicy = try TaskStateCollector.memoryPolicy(session, address: start)
        }
    }
}
