import CheckpointImage
import Glibc
import LinuxKit

/// Kinds whose descriptors the stub opens again by a path: its own (a file,
/// a device, a FIFO) or one of the restorer's objects (/proc/<restorer>/fd/N
/// for a pipe, an unlinked file, a memfd).
enum PathReopen {
    /// Opens `source` in the stub with `f`'s status flags, moves it to `f`'s
    /// number and, with `seek`, to its offset.
    static func open(_ f: FileDescriptorState, source: String, in c: FileRestoreContext, noCTTY: Bool = false, seek: Bool = false) throws -> RestoredFile {
        let p = try c.session.putString(source)
        // O_ASYNC at open sets the flag without arming it, and then F_SETFL
        // cannot arm it either: OpenFileAttributes turns it on afterwards.
        var flags = UInt64(f.flags) & ~UInt64(O_CREAT | O_TRUNC | O_EXCL | O_ASYNC)
        if noCTTY { flags |= UInt64(O_NOCTTY) }
        // An O_TMPFILE file keeps that flag, which holds O_DIRECTORY: reopened as the file it is.
        if flags & UInt64(OpenFlags.tmpFileBit) != 0 { flags &= ~UInt64(OpenFlags.tmpFile) }
        // O_NOFOLLOW stays in a file's flags (Python's tempfile opens with it):
        // through one of our /proc/PID/fd links, a symbolic link, it would be ELOOP.
        if source.hasPrefix("/proc/"), flags & UInt64(OpenFlags.path) == 0 { flags &= ~UInt64(O_NOFOLLOW) }
        let opened: Int64
        if let ns = f.mountNamespace, ns != c.process.mountNamespace, let root = c.objects.mountRoot(of: ns) {
            // On a mount of another namespace: opened by us through a stub of
            // that namespace and passed in, so it stays on that mount.
            let ours = Glibc.open(root + source, Int32(truncatingIfNeeded: flags) | O_CLOEXEC, 0)
            if ours >= 0 { return try passIn(ours, f, seek: seek, in: c) }
            opened = -Int64(errno)
        } else {
            opened = try c.session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), p, flags, 0)
        }
        if opened == -Int64(EACCES), f.fd <= 2, c.stdio[f.fd] != nil {
            // Standard streams a root shell redirected to its own files: a user's restart cannot open them.
            c.warn("fd \(f.fd) (\(f.path)) cannot be reopened by this user (Permission denied); it is cr_restart's fd \(f.fd) instead")
            return try c.inheritStdio(f.fd, as: f, why: "")
        }
        guard opened >= 0 else {
            let hint = opened == -Int64(ENOENT) && f.kind == .regular ? " (cr_restart --missing-files recreate or devnull goes on without it)" : ""
            throw CheckpointError(errno: Int32(-opened), "cannot reopen fd \(f.fd) (\(f.path))\(hint)")
        }
        try c.install(UInt64(opened), as: f)
        if seek && f.offset > 0 {
            try c.session.lseek(UInt64(f.fd), to: f.offset, what: "\(f.path)")
        }
        return .inPlace
    }

    /// Our descriptor `fd` for `f`, at its offset, to be passed in (and closed after the restore).
    static func passIn(_ fd: Int32, _ f: FileDescriptorState, seek: Bool, in c: FileRestoreContext) throws -> RestoredFile {
        c.objects.closeLater(fd)
        if seek && f.offset > 0 && lseek(fd, off_t(f.offset), SEEK_SET) < 0 {
            throw CheckpointError(errno: errno, "lseek of fd \(f.fd) (\(f.path)) to \(f.offset)")
        }
        return .local(fd)
    }

    /// Reads a file whole through its /proc/PID/fd link (an unlinked file, a memfd).
    static func contents(of path: String, size: Int) throws -> [UInt8] {
        let fd = try valueOrThrow("open(\(path))") { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var data = [UInt8](repeating: 0, count: size)
        let got = try data.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            var done = 0
            while done < size {
                let n = try valueOrThrow("pread(\(path))") { pread(fd, base + done, size - done, off_t(done)) }
                if n == 0 { break }
                done += n
            }
            return done
        }
        return Array(data[0..<got])
    }

    /// Unlinked files and memfds larger than this have no contents saved.
    static let contentsLimit = off_t(64 << 20)

    /// The data of a file that may have holes: its extents (offset, length
    /// pairs, from SEEK_DATA/SEEK_HOLE) and their bytes, one after another.
    static func extents(of path: String, size: Int) throws -> (extents: [UInt64], bytes: [UInt8]) {
        let fd = try valueOrThrow("open(\(path))") { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var extents: [UInt64] = [], bytes: [UInt8] = []
        var at = off_t(0)
        while at < off_t(size) {
            let start = lseek(fd, at, 3)  // SEEK_DATA
            if start < 0 { break }        // ENXIO: only a hole is left
            var end = lseek(fd, start, 4)  // SEEK_HOLE
            if end < 0 || end > off_t(size) { end = off_t(size) }
            var chunk = [UInt8](repeating: 0, count: Int(end - start))
            let got = try chunk.withUnsafeMutableBytes { raw -> Int in
                var done = 0
                while done < raw.count, let base = raw.baseAddress {
                    let n = try valueOrThrow("pread(\(path))") { pread(fd, base + done, raw.count - done, start + off_t(done)) }
                    if n == 0 { break }
                    done += n
                }
                return done
            }
            extents += [UInt64(start), UInt64(got)]
            bytes += chunk[0..<got]
            guard bytes.count <= Int(contentsLimit) else { throw CheckpointError(EFBIG, "\(path): more than \(contentsLimit >> 20) MiB of data") }
            at = end
        }
        return (extents, bytes)
    }
}
