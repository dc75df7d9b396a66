import Glibc
import LinuxKit

/// Another name of a file whose mapped name is gone: glibc's sem_open
/// (and others that create a file under a temporary name, map it, link it
/// to its real name and unlink the first) leaves a mapping that shows
/// "/dev/shm/sem.XXXXXX (deleted)" while /dev/shm/sem.NAME is the same
/// file. Kept as shared anonymous memory, the restored process would no
/// longer share it with those that map or open it by name. Looked for in
/// the same directory only, by inode, in its first `limit` entries.
enum LiveLink {
    static let limit = 10_000

    /// The path (under `root`, without it) of an entry of `deleted`'s
    /// directory that is the file (device, inode), or nil.
    static func find(deleted path: String, device: UInt64, inode: UInt64, root: String = "") -> String? {
        guard let slash = path.lastIndex(of: "/") else { return nil }
        let directory = String(path[..<slash])
        let dirFD = open(root + (directory.isEmpty ? "/" : directory), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0, let stream = fdopendir(dirFD) else {
            if dirFD >= 0 { close(dirFD) }
            return nil
        }
        defer { closedir(stream) }
        var budget = limit
        while budget > 0, let entry = readdir(stream) {
            budget -= 1
            guard UInt64(entry.pointee.d_ino) == inode else { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            var st = stat()
            guard fstatat(dirfd(stream), name, &st, AT_SYMLINK_NOFOLLOW) == 0, UInt64(st.st_ino) == inode,
                  UInt64(st.st_dev) == device, st.st_mode & S_IFMT == S_IFREG else { continue }
            return directory + "/" + name
        }
        return nil
    }
}
