import CheckpointImage
import Glibc
import LinuxKit

/// Device nodes (other than those Devices reopens by name and terminals)
/// and symbolic links held through O_PATH. A node still at its path is
/// opened there again. One removed since (or replaced) is made again by the
/// restorer (mknod needs CAP_MKNOD; a symlink anyone may make) under a free
/// name beside the old one, opened with the descriptor's flags, handed
/// over, and removed again: the process holds the same kind of node, gone
/// from the file system as it was.
enum Nodes: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.node]

    /// Devices whose open makes a new object (a new pseudo-terminal, tun
    /// interface, FUSE or KVM session): reopening would not be the same.
    static let makesNewObject: Set<[UInt32]> = [[5, 2], [10, 200], [10, 229], [10, 232]]

    static func claims(_ d: OpenDescriptor) -> Bool {
        if d.mode == S_IFLNK { return true }
        guard d.mode == S_IFCHR || d.mode == S_IFBLK, !Devices.claims(d) else { return false }
        let (major, minor) = (UInt32(Device.major(UInt64(d.st.st_rdev))), UInt32(Device.minor(UInt64(d.st.st_rdev))))
        // Terminals (4: virtual consoles and serial lines aside, 136-143: pts) are another kind's to do.
        return !makesNewObject.contains([major, minor]) && !(136...143).contains(major)
    }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        let path = d.deleted ? String(d.link.dropLast(" (deleted)".count)) : d.link
        var target = ""
        if d.mode == S_IFLNK {
            // readlinkat with an empty path reads the link an O_PATH descriptor holds.
            let copy = try SocketBorrower.borrowOnce(pid: d.pid, fd: d.fd)
            defer { close(copy) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = readlinkat(copy, "", &buffer, buffer.count)
            guard n >= 0 else { throw CheckpointError(errno: errno, "fd \(d.fd): reading the symlink it holds") }
            target = String(decoding: buffer[0..<n], as: UTF8.self)
        }
        var st = stat()
        let there = lstat("/proc/\(d.pid)/root\(path)", &st) == 0 && st.st_ino == d.st.st_ino && st.st_dev == d.st.st_dev
        state.kind = .node
        state.path = path
        state.payload = .node(NodeRecord(mode: UInt64(d.st.st_mode), rdev: UInt64(d.st.st_rdev), target: target,
                                         uid: UInt64(d.st.st_uid), gid: UInt64(d.st.st_gid), gone: d.deleted || !there))
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard let n = f.node else { return .closed("fd \(f.fd) (\(f.path)): node record missing") }
        if !n.gone && stillThere(f.path, n) { return try PathReopen.open(f, source: f.path, in: c, noCTTY: true) }
        // Made again beside its old name (the name itself if free), opened, removed.
        var name = f.path
        var st = stat()
        if lstat(name, &st) == 0 { name += ".swiftcr-node.\(getpid())" }
        let made = n.isSymlink ? symlink(n.target, name) : mknod(name, mode_t(n.mode), dev_t(n.rdev))
        guard made == 0 else {
            return .closed("fd \(f.fd) (\(f.path)): the \(n.isSymlink ? "symlink" : "device node") is gone and cannot be made again: \(errorText(errno))")
        }
        defer { if n.gone || name != f.path { unlink(name) } }
        _ = lchown(name, uid_t(n.uid), gid_t(n.gid))
        // mknod's mode was cut by the restorer's umask (and chown clears set-ID bits): exactly, after.
        if !n.isSymlink { _ = chmod(name, mode_t(n.mode & 0o7777)) }
        let keep = Int32(O_ACCMODE | O_NONBLOCK | O_APPEND | O_NOFOLLOW) | OpenFlags.path
        let fd = open(name, Int32(bitPattern: f.flags) & keep | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return .closed("fd \(f.fd) (\(f.path)): the node made again cannot be opened: \(errorText(errno))") }
        c.objects.closeLater(fd)
        return .local(fd)
    }

    /// The path still holds a node of the same type (and device, or target).
    static func stillThere(_ path: String, _ n: NodeRecord) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0, UInt64(st.st_mode) & 0o170000 == n.mode & 0o170000 else { return false }
        if n.isSymlink {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let len = readlink(path, &buffer, buffer.count)
            return len >= 0 && String(decoding: buffer[0..<len], as: UTF8.self) == n.target
        }
        return UInt64(st.st_rdev) == n.rdev
    }
}
