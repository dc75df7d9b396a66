import CheckpointImage
import Glibc
import LinuxKit

/// Processes in cgroup namespaces other than the checkpointer's (`unshare
/// -C`, containers): each namespace is saved as its root cgroup in every
/// hierarchy. The kernel shows cgroup paths from the reader's namespace
/// root, so a child of ours that enters the namespace (setns) reads
/// the process's cgroups as the process sees them (a user's, through the
/// process's user namespace it owns); the root is what our
/// longer path has in front of theirs.
struct CgroupNamespaces {
    var namespaces: [[CgroupMembership]] = []
    /// PID -> 1-based index into `namespaces`.
    var index: [pid_t: Int] = [:]
    var warnings: [String] = []
    /// Processes whose namespace was saved (the others get UnsavedNamespaces' warning).
    var saved: Set<pid_t> { Set(index.keys) }

    static func collect(_ processes: [ProcessState]) -> CgroupNamespaces {
        var found = CgroupNamespaces()
        guard let ours = try? Sys.readLink("/proc/self/ns/cgroup") else { return found }
        var byLink: [[UInt8]: Int] = [:]
        for p in processes {
            guard let link = try? Sys.readLink("/proc/\(p.pid)/ns/cgroup"), link != ours else { continue }
            if let k = byLink[link] { found.index[p.pid] = k; continue }
            switch roots(of: p) {
            case .success(let roots):
                found.namespaces.append(roots)
                byLink[link] = found.namespaces.count
                found.index[p.pid] = found.namespaces.count
            case .failure(let why):
                found.warnings.append("process \(p.pid) is in a cgroup namespace other than the checkpointer's, whose root cannot be read (\(why)): it comes back in cr_restart's")
            }
        }
        return found
    }

    struct Unreadable: Error, CustomStringConvertible { let description: String }

    /// Each hierarchy's namespace root: our path for the process less its own.
    static func roots(of p: ProcessState) -> Result<[CgroupMembership], Unreadable> {
        let text: String
        switch readInside(p.pid) {
        case .success(let t): text = t
        case .failure(let e): return .failure(e)
        }
        guard let theirs = try? ProcCgroup.parse(text) else { return .failure(Unreadable(description: "its /proc/PID/cgroup did not parse")) }
        var roots: [CgroupMembership] = []
        for mine in p.cgroups {
            guard let own = theirs.first(where: { $0.controllers == mine.controllers }) else { continue }
            // A cgroup above the namespace root reads "/../x": the process was moved out of it.
            guard !own.path.hasPrefix("/.."), own.path == "/" || mine.path.hasSuffix(own.path) else {
                return .failure(Unreadable(description: "it is in \(mine.path), outside its namespace's root"))
            }
            let root = own.path == "/" ? mine.path : String(mine.path.dropLast(own.path.count))
            roots.append(CgroupMembership(controllers: mine.controllers, path: root.isEmpty ? "/" : root))
        }
        return .success(roots)
    }

    /// /proc/PID/cgroup as read from inside the process's cgroup namespace.
    static func readInside(_ pid: pid_t) -> Result<String, Unreadable> {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { return .failure(Unreadable(description: "pipe: \(errorText(errno))")) }
        _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC)
        defer { close(pipeFDs[0]) }
        // Built before the clone: the child may only make system calls.
        guard let nsPath = strdup("/proc/\(pid)/ns/cgroup"), let cgroupPath = strdup("/proc/\(pid)/cgroup"),
              let userPath = strdup("/proc/\(pid)/ns/user") else {
            close(pipeFDs[1])
            return .failure(Unreadable(description: "out of memory"))
        }
        defer { free(nsPath); free(cgroupPath); free(userPath) }
        let room = 16384
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: room, alignment: 8)
        defer { buffer.deallocate() }
        let writeEnd = pipeFDs[1]
        let spawned = RawChild.spawn {
            // Its user namespace first, where a user owning it has the
            // capability setns wants (fails harmlessly when it is ours).
            let user = Syscall.raw(NR.openat, Int(AT_FDCWD), Int(bitPattern: UnsafeRawPointer(userPath)), Int(O_RDONLY | O_CLOEXEC))
            if user >= 0 { _ = Syscall.raw(NR.setns, user, Int(CloneFlags.newUser)) }
            let ns = Syscall.raw(NR.openat, Int(AT_FDCWD), Int(bitPattern: UnsafeRawPointer(nsPath)), Int(O_RDONLY | O_CLOEXEC))
            if ns < 0 || Syscall.raw(NR.setns, ns, Int(CloneFlags.newCgroup)) != 0 { Syscall.exitGroup(Int(Glibc.errno)) }
            let file = Syscall.raw(NR.openat, Int(AT_FDCWD), Int(bitPattern: UnsafeRawPointer(cgroupPath)), Int(O_RDONLY | O_CLOEXEC))
            if file < 0 { Syscall.exitGroup(Int(Glibc.errno)) }
            let n = Syscall.raw(NR.read, file, Int(bitPattern: buffer), room)
            if n <= 0 || Syscall.raw(NR.write, Int(writeEnd), Int(bitPattern: buffer), n) != n { Syscall.exitGroup(Int(EIO)) }
            Syscall.exitGroup(0)
        }
        close(pipeFDs[1])
        guard case .success(let child) = spawned else { return .failure(Unreadable(description: "no helper process")) }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : EIO
        guard code == 0 else { return .failure(Unreadable(description: "entering it: \(errorText(code))")) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return .success(String(decoding: bytes, as: UTF8.self))
    }
}
