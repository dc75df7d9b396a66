import Checkpoint
import Glibc
import LinuxKit

/// BLCR's replacement modes for a context file.
public enum ReplaceMode: Sendable { case atomic, clobber, noclobber }

/// A context file renamed to `DIR/BASE` only when complete (BLCR's --atomic),
/// created mode 0400 as BLCR does. It is written with no name at all where
/// the file system allows (O_TMPFILE), so a cr_checkpoint killed half way
/// leaves nothing; elsewhere under `DIR/.BASE.tmp`.
final class AtomicFile: ImageDestination {
    let path: String
    let temporary: String
    let mode: ReplaceMode
    let sync: Bool
    let fd: Int32
    /// True while the file has no name (O_TMPFILE): commit links it as `temporary` first.
    private let unnamed: Bool
    private var done = false

    /// --backup[=NAME]: an existing file is renamed to NAME, or to FILE.~N~ ("" here), before being replaced.
    let backup: String?

    init(path: String, mode: ReplaceMode, sync: Bool, backup: String? = nil) throws {
        self.path = path
        self.mode = mode
        self.sync = sync
        self.backup = backup
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        temporary = mode == .atomic ? "\(dir.isEmpty ? "" : dir)/.\(base).tmp" : path
        if mode == .noclobber, access(path, F_OK) == 0 {
            throw CheckpointError(EEXIST, "\(path) already exists (--noclobber)")
        }
        if mode == .clobber { try Self.moveAside(path, backup) }
        // An earlier image (made 0400) this user may not write: removed
        // first, as BLCR's cr_checkpoint does, then made again.
        if mode == .clobber, access(path, W_OK) != 0 && errno != ENOENT { unlink(path) }
        var flags = O_RDWR | O_CREAT | O_CLOEXEC  // read back before commit
        flags |= mode == .noclobber ? O_EXCL : O_TRUNC
        if mode == .atomic, let nameless = UnnamedFile.open(in: dir.isEmpty ? "/" : dir, mode: 0o400) {
            fd = nameless
            unnamed = true
            return
        }
        unnamed = false
        if mode == .atomic { unlink(temporary) }
        let fd = open(temporary, flags, 0o400)
        guard fd >= 0 else {
            let e = errno
            throw CheckpointError(errno: e, "cannot create \(mode == .atomic ? temporary : path)")
        }
        self.fd = fd
    }

    var verifiablePath: String? { unnamed ? UnnamedFile.procPath(fd) : temporary }

    func commit() throws {
        if sync && fsync(fd) != 0 {
            let e = errno
            throw CheckpointError(errno: e, "fsync \(temporary)")
        }
        if unnamed {
            // The name appears only now, already complete; a stale one from a killed run goes first.
            unlink(temporary)
            do { try UnnamedFile.link(fd, to: temporary) } catch let e as SystemCallError {
                throw CheckpointError(e.errno.rawValue, "cannot name the image \(temporary): \(e)")
            }
        }
        if close(fd) != 0 {
            let e = errno
            throw CheckpointError(errno: e, "close \(temporary)")
        }
        if mode == .atomic { try Self.moveAside(path, backup) }
        if mode == .atomic && rename(temporary, path) != 0 {
            let e = errno
            throw CheckpointError(errno: e, "rename \(temporary) to \(path)")
        }
        if sync { syncDirectory() }
        done = true
    }

    /// BLCR's --backup: keep the old context file under NAME or the next FILE.~N~.
    static func moveAside(_ path: String, _ backup: String?) throws {
        guard let backup, access(path, F_OK) == 0 else { return }
        var target = backup
        if target.isEmpty {
            var n = 1
            while access("\(path).~\(n)~", F_OK) == 0 { n += 1 }
            target = "\(path).~\(n)~"
        }
        guard rename(path, target) == 0 else {
            let e = errno
            throw CheckpointError(errno: e, "cannot back up \(path) as \(target)")
        }
    }

    func discard() {
        guard !done else { return }
        done = true
        close(fd)
        if !unnamed { unlink(temporary) }
    }

    private func syncDirectory() {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let d = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if d >= 0 { fsync(d); close(d) }
    }

    deinit { discard() }
}

/// An already open descriptor (-F FD): a pipe or a file the caller owns.
final class DescriptorDestination: ImageDestination {
    let fd: Int32
    let sync: Bool
    init(fd: Int32, sync: Bool) { self.fd = fd; self.sync = sync }
    func commit() throws {
        var st = stat()
        if sync, fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, fsync(fd) != 0 {
            let e = errno
            throw CheckpointError(errno: e, "fsync fd \(fd)")
        }
    }
    func discard() {}
}
