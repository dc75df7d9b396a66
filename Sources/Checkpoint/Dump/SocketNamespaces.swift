import CheckpointImage
import Glibc
import LinuxKit

/// A socket lives in the network namespace it was made in, which need not
/// be its process's: a process may make it and then setns (zdtm netns_sub),
/// or inherit it from a parent in another. Its namespace (SIOCGSKNS on a
/// borrowed copy) is noted where it differs from its process's, numbered as
/// the saved namespaces (0: the checkpointer's); the restart makes it there.
enum SocketNamespaces {
    static let getNamespace: UInt = 0x894c  // SIOCGSKNS

    /// Sets `netNamespace` of the sockets made elsewhere; a namespace neither saved nor ours is named in a warning.
    static func note(_ processes: inout [ProcessState], numbers: [[UInt8]: Int]) -> [String] {
        guard !numbers.isEmpty else { return [] }
        let ours = (try? Sys.readLink("/proc/self/ns/net")) ?? []
        var warnings: [String] = []
        for p in processes.indices {
            let pid = processes[p].pid
            for k in processes[p].files.indices where processes[p].files[k].path.hasPrefix("socket:") && !processes[p].files[k].inFlight {
                let fd = processes[p].files[k].fd
                guard let copy = try? SocketBorrower.borrowOnce(pid: pid, fd: fd) else { continue }
                let namespace = ioctl(copy, getNamespace)
                close(copy)
                guard namespace >= 0 else { continue }
                let link = (try? Sys.readLink("/proc/self/fd/\(namespace)")) ?? []
                close(namespace)
                let number = link == ours ? 0 : numbers[link]
                guard number != processes[p].netNamespace else { continue }
                if let number {
                    processes[p].files[k].netNamespace = number
                } else {
                    warnings.append("process \(pid) fd \(fd): a socket of a network namespace neither saved nor the checkpointer's; it comes back in its process's")
                }
            }
        }
        return warnings
    }
}
