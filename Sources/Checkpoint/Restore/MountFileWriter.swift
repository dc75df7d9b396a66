import CheckpointImage
import Glibc
import LinuxKit

/// Writes a saved tmpfs's files (MountFiles) into the new mount, from
/// outside its namespace through /proc/<stub>/root: owners, modes and
/// modification times as they were, hard links linked again. Directories
/// get their times last, after their entries are made.
struct MountFileWriter {
    /// The mount's directory as reached from here.
    let top: String
    let mountPoint: String

    /// Warnings, one per file that could not be made (at most a few, then a count).
    func write(_ files: [SavedFile]) -> [String] {
        var failed: [String] = []
        for f in files {
            let path = "\(top)/\(f.path)"
            if let why = make(f, at: path) { failed.append("\(mountPoint)/\(f.path): \(why)") }
        }
        for f in files.reversed() {
            let path = "\(top)/\(f.path)"
            if f.kind != .symlink && f.kind != .hardLink { _ = chmod(path, mode_t(f.mode)) }
            var times = [timespec(tv_sec: 0, tv_nsec: utimeOmit),
                         timespec(tv_sec: Int(f.modified.seconds), tv_nsec: Int(f.modified.nanoseconds))]
            if f.kind != .hardLink { _ = utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) }
        }
        guard failed.count > 3 else { return failed.map { "its file \($0)" } }
        return failed.prefix(3).map { "its file \($0)" } + ["\(failed.count - 3) more files of \(mountPoint) could not be made"]
    }

    /// nil when made, else why not.
    private func make(_ f: SavedFile, at path: String) -> String? {
        let made: Int32
        switch f.kind {
        case .directory: made = mkdir(path, 0o700)
        case .regular: return regular(f, at: path)
        case .symlink: made = symlink(String(decoding: f.data, as: UTF8.self), path)
        case .fifo: made = mkfifo(path, 0o600)
        case .characterDevice: made = mknod(path, S_IFCHR | 0o600, dev_t(f.device))
        case .blockDevice: made = mknod(path, S_IFBLK | 0o600, dev_t(f.device))
        case .hardLink:
            let first = String(decoding: f.data, as: UTF8.self)
            guard !first.hasPrefix("/"), !first.split(separator: "/").contains("..") else { return "a hard link to \(first), outside the mount" }
            return link("\(top)/\(first)", path) == 0 ? nil : errorText(errno)
        }
        guard made == 0 else { return errorText(errno) }
        return lchown(path, f.uid, f.gid) == 0 ? nil : "its owner: \(errorText(errno))"
    }

    private func regular(_ f: SavedFile, at path: String) -> String? {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return errorText(errno) }
        defer { close(fd) }
        var done = 0
        let failure: Int32? = f.data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            while done < raw.count {
                let n = Glibc.write(fd, base + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue }; return errno }
                done += n
            }
            return nil
        }
        if let failure { return errorText(failure) }
        return fchown(fd, f.uid, f.gid) == 0 ? nil : "its owner: \(errorText(errno))"
    }
}
