import Glibc
import LinuxKit
import SystemPackage

/// The namespaces of one kind (cgroup, uts...) the tree's processes are in
/// other than the checkpointer's, numbered from 1 in the order first met,
/// each described once from its first process (`describe`); a process
/// whose namespace cannot be described is left out with a warning.
struct ForeignNamespaces<Saved> {
    var namespaces: [Saved] = []
    /// PID -> 1-based index into `namespaces`.
    var index: [pid_t: Int] = [:]
    var warnings: [String] = []
    var saved: Set<pid_t> { Set(index.keys) }
    /// A namespace's /proc/PID/ns link -> its 1-based index.
    private(set) var numbers: [[UInt8]: Int] = [:]

    init(_ pids: [pid_t], kind: String, name: String, describe: (pid_t) -> Result<Saved, NamespaceUnreadable>) {
        guard let ours = try? Sys.readLink("/proc/self/ns/\(kind)") else { return }
        for pid in pids {
            guard let link = try? Sys.readLink("/proc/\(pid)/ns/\(kind)"), link != ours else { continue }
            if let k = numbers[link] { index[pid] = k; continue }
            switch describe(pid) {
            case .success(let saved):
                namespaces.append(saved)
                numbers[link] = namespaces.count
                index[pid] = namespaces.count
            case .failure(let why):
                warnings.append("process \(pid) is in \(name) namespace other than the checkpointer's, which cannot be read (\(why)): it comes back in cr_restart's")
            }
        }
    }
}

struct NamespaceUnreadable: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
    init(entering e: Errno) { description = "entering it: \(errorText(e.rawValue))" }
}

/// Namespaces that setns changes for the calling thread only (IPC, network):
/// this thread enters a process's, runs `body` (what it reads or the
/// sockets it makes belong there) and comes back. Needs the capability in
/// both user namespaces: root.
enum ThreadNamespace {
    static func inside<T>(_ pid: pid_t, kind: String, flag: UInt64, _ body: () throws -> T) throws -> Result<T, Errno> {
        let ours = open("/proc/thread-self/ns/\(kind)", O_RDONLY | O_CLOEXEC)
        let theirs = open("/proc/\(pid)/ns/\(kind)", O_RDONLY | O_CLOEXEC)
        defer { if ours >= 0 { close(ours) }; if theirs >= 0 { close(theirs) } }
        guard ours >= 0, theirs >= 0 else { return .failure(Errno(rawValue: errno)) }
        guard Syscall.raw(NR.setns, Int(theirs), Int(flag)) == 0 else { return .failure(Errno(rawValue: errno)) }
        // Back home; should that fail, this thread only ever reads namespaced tables again.
        defer { _ = Syscall.raw(NR.setns, Int(ours), Int(flag)) }
        return .success(try body())
    }
}
