import CheckpointImage
import Glibc
import LinuxKit

/// Processes in a time namespace other than the checkpointer's (unshare
/// --time; zdtm's ns flavor puts every test in one) see CLOCK_MONOTONIC and
/// CLOCK_BOOTTIME shifted. The image keeps that namespace's offsets and who
/// lived in it (and whose children were born in it); the restart makes it again.
enum TimeNamespaces {
    struct Found {
        var offsets: [Int64]?
        var use: [pid_t: ProcessState.TimeNamespaceUse] = [:]
        var warnings: [String] = []
    }

    /// One namespace of the tree's is kept; a process in a second one is
    /// restored in the first's place with a warning.
    static func collect(_ pids: [pid_t]) -> Found {
        var found = Found()
        guard let ours = try? Sys.readLink("/proc/self/ns/time") else { return found }
        var theirs: [UInt8]?
        var holder: pid_t = 0
        for pid in pids {
            guard let own = try? Sys.readLink("/proc/\(pid)/ns/time"),
                  let children = try? Sys.readLink("/proc/\(pid)/ns/time_for_children") else { continue }
            var use = ProcessState.TimeNamespaceUse()
            for (link, inside) in [(own, \ProcessState.TimeNamespaceUse.own), (children, \.children)] where link != ours {
                if theirs == nil { (theirs, holder) = (link, pid) }
                if link == theirs {
                    use[keyPath: inside] = true
                } else {
                    found.warnings.append("process \(pid) uses a second time namespace of its own (\(String(decoding: link, as: UTF8.self))): it is restored in the checkpointer's")
                }
            }
            if !use.isEmpty { found.use[pid] = use }
        }
        guard theirs != nil else { return found }
        // timens_offsets shows the namespace a process's children are born in.
        let reader = found.use.first { $0.value.children }?.key ?? holder
        if let text = try? Sys.readText("/proc/\(reader)/timens_offsets"), let offsets = parse(text) {
            found.offsets = offsets
        } else {
            found.warnings.append("the offsets of the time namespace of process \(holder) could not be read: its processes are restored in the checkpointer's")
            found.use = [:]
        }
        return found
    }

    /// "monotonic S N\nboottime S N" -> [monotonic S, N, boottime S, N].
    static func parse(_ text: String) -> [Int64]? {
        var clocks: [String: (Int64, Int64)] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count == 3, let s = Int64(f[1]), let n = Int64(f[2]) else { return nil }
            clocks[String(f[0])] = (s, n)
        }
        guard let m = clocks["monotonic"], let b = clocks["boottime"] else { return nil }
        return [m.0, m.1, b.0, b.1]
    }
}
