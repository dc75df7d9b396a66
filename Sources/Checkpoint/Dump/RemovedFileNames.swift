import CheckpointImage
import Glibc
import LinuxKit

/// Another name of a file removed while open, anywhere on a tmpfs (or
/// ramfs) of a saved mount namespace: the restart makes that tmpfs again
/// from its saved files, so the other name is the file's only way back as
/// one file with it (its handle would name the old instance). CRIU calls
/// this link remapping; here nothing is linked at checkpoint, the name is
/// looked up (zdtm mntns_link_remap: the file was opened through a bind of
/// one directory and still has a name in another).
enum RemovedFileNames {
    /// Directory entries read per file at most.
    static let limit = 10_000

    /// Sets `livePath` (with its namespace) of each unlinked file that still
    /// has a name, where none was found in its own directory or that one
    /// is on such a tmpfs. Its own namespace is searched first.
    static func find(_ processes: inout [ProcessState], found: MountNamespaces.Found) {
        guard !found.namespaces.isEmpty else { return }
        var member: [Int: pid_t] = [:]
        for p in processes where p.mountNamespace > 0 && member[p.mountNamespace] == nil { member[p.mountNamespace] = p.pid }
        var known: [[UInt64]: (path: String, namespace: Int)?] = [:]
        for p in processes.indices {
            for k in processes[p].files.indices where processes[p].files[k].kind == .unlinked {
                let f = processes[p].files[k]
                guard case .unlinked(var record) = f.payload else { continue }
                let own = f.mountNamespace ?? processes[p].mountNamespace
                let key = [f.device, f.inode]
                if known[key] == nil {
                    var st = stat()
                    guard stat("/proc/\(processes[p].pid)/fd/\(f.fd)", &st) == 0, st.st_nlink > 0 else { known[key] = .some(nil); continue }
                    let order = [own] + (1...found.namespaces.count).filter { $0 != own }
                    known[key] = .some(order.lazy.compactMap { ns in
                        member[ns].flatMap { search(found.namespaces[ns - 1], pid: $0, device: st.st_dev, inode: st.st_ino) }.map { ($0, ns) }
                    }.first)
                }
                guard let name = known[key] ?? nil else { continue }
                record.livePath = name.path
                record.liveNamespace = name.namespace
                record.liveInSavedFiles = true
                processes[p].files[k].payload = .unlinked(record)
            }
        }
    }

    /// A name of (device, inode) on a mount of `ns` made anew with its files.
    private static func search(_ ns: MountNamespaceState, pid: pid_t, device: dev_t, inode: ino_t) -> String? {
        var budget = limit
        for m in ns.mounts where m.plan == .fresh && MountNamespaces.inMemory.contains(m.fsType) && !m.files.isEmpty {
            let top = "/proc/\(pid)/root" + m.mountPoint
            let dir = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dir >= 0 else { continue }
            var st = stat()
            // Another mount on top of it shows something else there.
            guard fstat(dir, &st) == 0, st.st_dev == device else { Glibc.close(dir); continue }
            if let rel = walk(dir, device: device, inode: inode, budget: &budget) {
                return (m.mountPoint == "/" ? "" : m.mountPoint) + "/" + rel
            }
            if budget <= 0 { break }
        }
        return nil
    }

    /// Depth first through `dir` (closed here), not into other mounts.
    private static func walk(_ dir: Int32, device: dev_t, inode: ino_t, budget: inout Int) -> String? {
        guard let stream = fdopendir(dir) else { Glibc.close(dir); return nil }
        defer { closedir(stream) }
        var subdirectories: [String] = []
        while budget > 0, let entry = readdir(stream) {
            budget -= 1
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != "." && name != ".." else { continue }
            var st = stat()
            guard fstatat(dirfd(stream), name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_dev == device else { continue }
            if st.st_ino == inode && st.st_mode & S_IFMT == S_IFREG { return name }
            if st.st_mode & S_IFMT == S_IFDIR { subdirectories.append(name) }
        }
        for name in subdirectories where budget > 0 {
            let sub = openat(dirfd(stream), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard sub >= 0 else { continue }
            if let rel = walk(sub, device: device, inode: inode, budget: &budget) { return name + "/" + rel }
        }
        return nil
    }
}
