import CheckpointImage
import Glibc
import LinuxKit

/// The files of a tmpfs (or ramfs) that exists only in a process's mount
/// namespace: it goes when the namespace does, so the image keeps them.
/// Read through /proc/PID/root (a detached copy by open_tree cannot be had
/// of another namespace's mount), not crossing into other mounts: a
/// directory another mount covers is kept empty, and what that mount hides
/// of it is not seen.
enum MountFiles {
    /// More than this in one mount is refused: the image keeps it in memory.
    static let limit = 64 << 20

    /// The files of the mount at `mountPoint` in `pid`'s namespace, read
    /// from a detached copy of that mount alone (DetachedMount), so the files
    /// under its mount points are saved too; through the path where no copy
    /// can be made (an unbindable mount), mount points then saved empty.
    /// Nil when the mount point shows another mount than `mountID` (a bind
    /// of another directory of the same filesystem on top of it too), or
    /// another filesystem than `device` (major << 32 | minor), or no longer
    /// exists: a mount over it, or over a directory above it, covers it.
    static func save(pid: pid_t, mountPoint: String, device: UInt64, mountID: Int32? = nil) throws -> [SavedFile]? {
        let path = "/proc/\(pid)/root\(mountPoint)"
        if let mountID, let shown = KernelFileHandle.mountID(of: path), shown != Int(mountID) { return nil }
        var top: Int32 = -1
        if case .success(let copy) = DetachedMount.clone(mountPoint, of: pid) {
            top = openat(copy, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(copy)
        }
        if top < 0 { top = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        // Its mount point is gone from view: a mount over a directory above it covers it.
        if top < 0 && (errno == ENOENT || errno == ENOTDIR) { return nil }
        guard top >= 0 else { throw CheckpointError(errno: errno, "the files of the mount at \(mountPoint) of process \(pid) (\(path))") }
        defer { close(top) }
        var st = stat()
        guard fstat(top, &st) == 0 else { throw CheckpointError(errno: errno, "fstat(\(path))") }
        let dev = UInt64(st.st_dev)
        if device != 0 && (UInt64(Device.major(dev)) << 32 | UInt64(Device.minor(dev))) != device { return nil }
        var walk = Walk(device: st.st_dev, mountPoint: mountPoint, pid: pid)
        try walk.directory(top, prefix: "")
        return walk.files
    }

    private struct Walk {
        let device: dev_t
        let mountPoint: String
        let pid: pid_t
        var files: [SavedFile] = []
        var bytes = 0
        /// Inode -> first path, for hard links.
        var seen: [ino_t: String] = [:]

        mutating func directory(_ dir: Int32, prefix: String) throws {
            let copy = dup(dir)
            guard copy >= 0, let stream = fdopendir(copy) else {
                if copy >= 0 { close(copy) }
                throw CheckpointError(errno: errno, "reading directory \(mountPoint)/\(prefix)")
            }
            defer { closedir(stream) }
            var names: [String] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { names.append(name) }
            }
            for name in names.sorted() { try one(name, in: dir, prefix: prefix) }
        }

        mutating func one(_ name: String, in dir: Int32, prefix: String) throws {
            let rel = prefix.isEmpty ? name : "\(prefix)/\(name)"
            var st = stat()
            guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw CheckpointError(errno: errno, "stat \(mountPoint)/\(rel) of process \(pid)")
            }
            var f = SavedFile(path: rel, kind: .regular, mode: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid,
                              modified: (Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec)))
            // Another mount on top (saved as its own mount): its mount point is kept, empty.
            if st.st_dev != device {
                f.kind = (st.st_mode & S_IFMT) == S_IFDIR ? .directory : .regular
                f.mode = f.kind == .directory ? 0o755 : 0o644
                files.append(f)
                return
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                f.kind = .directory
                files.append(f)
                let sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard sub >= 0 else { throw CheckpointError(errno: errno, "open \(mountPoint)/\(rel) of process \(pid)") }
                defer { close(sub) }
                try directory(sub, prefix: rel)
                return
            case S_IFREG:
                if st.st_nlink > 1, let first = seen[st.st_ino] {
                    f.kind = .hardLink
                    f.data = Array(first.utf8)
                    files.append(f)
                    return
                }
                if st.st_nlink > 1 { seen[st.st_ino] = rel }
                bytes += Int(st.st_size)
                guard bytes <= MountFiles.limit else {
                    throw CheckpointError(EFBIG, "the \(mountPoint) mount of process \(pid)'s mount namespace holds more than \(MountFiles.limit >> 20) MiB of files, more than a checkpoint keeps")
                }
                let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw CheckpointError(errno: errno, "open \(mountPoint)/\(rel) of process \(pid)") }
                defer { close(fd) }
                f.data = try PathReopen.contents(of: "/proc/self/fd/\(fd)", size: Int(st.st_size))
            case S_IFLNK:
                f.kind = .symlink
                var target = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlinkat(dir, name, &target, target.count - 1)
                guard n >= 0 else { throw CheckpointError(errno: errno, "readlink \(mountPoint)/\(rel) of process \(pid)") }
                f.data = Array(target[0..<n])
            case S_IFIFO: f.kind = .fifo
            case S_IFCHR: f.kind = .characterDevice; f.device = UInt64(st.st_rdev)
            case S_IFBLK: f.kind = .blockDevice; f.device = UInt64(st.st_rdev)
            default: return  // a socket file: its socket binds it again
            }
            files.append(f)
        }
    }
}
