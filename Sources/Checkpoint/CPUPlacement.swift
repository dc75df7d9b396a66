import Glibc
import LinuxKit

/// A thread's CPU affinity (taskset, sched_setaffinity: an MPI rank pinned
/// to its core), saved where it leaves out a CPU the machine has online and
/// given back, as far as the CPUs online at restart allow, once the restorer
/// has let go of its own pin on the stubs.
enum CPUPlacement {
    /// The CPUs online here, as affinity words (/sys/devices/system/cpu/online: "0-3,6").
    static let online: [UInt64] = {
        guard let text = try? Sys.readText("/sys/devices/system/cpu/online") else { return [] }
        return words(cpuList: text)
    }()

    static func words(cpuList text: String) -> [UInt64] {
        var mask = [UInt64](repeating: 0, count: 16)
        for part in text.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " }) {
            let ends = part.split(separator: "-").compactMap { Int($0) }
            guard let first = ends.first, let last = ends.last, first <= last, last < 1024 else { continue }
            for cpu in first...last { mask[cpu / 64] |= UInt64(1) << UInt64(cpu % 64) }
        }
        while mask.count > 1 && mask.last == 0 { mask.removeLast() }
        return mask
    }

    /// The thread's affinity, or empty when it has every CPU online (nothing to give back).
    static func restrictedAffinity(_ tid: pid_t) -> [UInt64] {
        var mask = [UInt64](repeating: 0, count: 16)
        let bytes = Syscall.affinity(of: tid, into: &mask)
        guard bytes > 0, !online.isEmpty else { return [] }
        mask = Array(mask.prefix(bytes / 8))
        let covers = online.indices.allSatisfy { k in (k < mask.count ? mask[k] : 0) & online[k] == online[k] }
        if covers { return [] }
        while mask.count > 1 && mask.last == 0 { mask.removeLast() }
        return mask
    }

    /// Sets `affinity` on `tid`, less the CPUs not online here; a warning
    /// if none of them is (the thread then keeps every CPU) or it fails.
    static func restore(_ affinity: [UInt64], tid: pid_t, what: String) -> String? {
        guard !affinity.isEmpty else { return nil }
        var mask = [UInt64](repeating: 0, count: 16)
        for k in affinity.indices where k < mask.count { mask[k] = affinity[k] & (k < online.count ? online[k] : 0) }
        guard mask.contains(where: { $0 != 0 }) else {
            return "\(what): none of the CPUs of its affinity is online here; it runs on any"
        }
        return Syscall.setAffinity(of: tid, mask) ? nil : "\(what): CPU affinity not restored: \(errorText(errno))"
    }
}
