import CheckpointImage
import Glibc
import LinuxKit

/// Files that were unlinked while open come back with the saved contents,
/// made by the restorer under their name and unlinked at once (or, if the
/// name is taken, as O_TMPFILE files in the original directory or /tmp); stubs open them through /proc/<restorer>/fd/N. One
/// file per original (device, inode), however many descriptors held it.
final class UnlinkedFileFactory {
    private var files: [[UInt64]: Int32] = [:]
    /// Files found again by their handle: the very file, left as it is.
    private var found: Set<[UInt64]> = []
    private let carriers: [[UInt64]: FileDescriptorState]

    init(processes: [ProcessState]) {
        var c: [[UInt64]: FileDescriptorState] = [:]
        for p in processes { for f in p.files where f.kind == .unlinked && f.fileContents != nil { c[[f.device, f.inode]] = f } }
        carriers = c
    }

    /// The file a descriptor of the image saves for (device, inode), made
    /// if need be; nil if none does (a mapping alone).
    func path(device: UInt64, inode: UInt64) throws -> String? {
        guard let carrier = carriers[[device, inode]] else { return nil }
        return try path(for: carrier)
    }

    func path(for f: FileDescriptorState) throws -> String {
        let key = [f.device, f.inode]
        if let fd = files[key] { return "/proc/\(getpid())/fd/\(fd)" }
        if let fd = sameFile(f) {
            files[key] = fd
            found.insert(key)
            return "/proc/\(getpid())/fd/\(fd)"
        }
        guard let contents = carriers[key]?.fileContents else {
            throw CheckpointError(EINVAL, "fd \(f.fd) (\(f.path)): the image holds no contents for this unlinked file")
        }
        let original = f.path.hasSuffix(" (deleted)") ? String(f.path.dropLast(" (deleted)".count)) : f.path
        let dir = original.lastIndex(of: "/").map { String(original[..<$0]) } ?? "/tmp"
        // Under its own name, unlinked at once, when the name is free: /proc
        // then shows "NAME (deleted)" as it did (programs and zdtm compare it).
        // Otherwise an O_TMPFILE file, which /proc shows as "/#INODE (deleted)".
        var fd = open(original, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        if fd >= 0 && unlink(original) != 0 {
            Glibc.close(fd)
            fd = -1
        }
        if fd < 0 { fd = open(dir.isEmpty ? "/" : dir, O_RDWR | O_CLOEXEC | OpenFlags.tmpFile, 0o600) }
        if fd < 0 { fd = open("/tmp", O_RDWR | O_CLOEXEC | OpenFlags.tmpFile, 0o600) }
        guard fd >= 0 else {
            throw CheckpointError(errno: errno, "cannot recreate unlinked file \(original)")
        }
        files[key] = fd
        if let r = carriers[key]?.unlinked, r.size != 0 || !r.extents.isEmpty {
            // The size first, then each extent at its offset: the rest stays holes.
            _ = try valueOrThrow("ftruncate(unlinked \(original))") { ftruncate(fd, off_t(r.size)) }
            var at = 0
            for k in stride(from: 0, to: r.extents.count - 1, by: 2) {
                let (offset, length) = (off_t(r.extents[k]), Int(r.extents[k + 1]))
                try contents[at..<(at + length)].withUnsafeBytes { raw in
                    var done = 0
                    while done < raw.count, let base = raw.baseAddress {
                        done += try valueOrThrow("pwrite(unlinked \(original))") { pwrite(fd, base + done, raw.count - done, offset + off_t(done)) }
                    }
                }
                at += length
            }
        } else {
            try contents.withUnsafeBytes { try Sys.writeAll(fd, $0, what: "unlinked \(original)") }
        }
        return "/proc/\(getpid())/fd/\(fd)"
    }

    /// The file itself, if it still has another name and its handle opens it
    /// here (through its directory or any mount of its device) as the same
    /// inode; else that other name, where the dump found one (any user).
    private func sameFile(_ f: FileDescriptorState) -> Int32? {
        guard let r = carriers[[f.device, f.inode]]?.unlinked ?? f.unlinked else { return nil }
        if let fd = byHandle(f, r) { return fd }
        guard let live = r.livePath else { return nil }
        let fd = open(live, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        var st = stat()
        if fd >= 0 && fstat(fd, &st) == 0 && UInt64(st.st_ino) == f.inode && UInt64(st.st_dev) == f.device { return fd }
        if fd >= 0 { Glibc.close(fd) }
        return nil
    }

    private func byHandle(_ f: FileDescriptorState, _ r: UnlinkedFileRecord) -> Int32? {
        guard !r.handle.isEmpty else { return nil }
        let original = f.path.hasSuffix(" (deleted)") ? String(f.path.dropLast(" (deleted)".count)) : f.path
        let dir = original.lastIndex(of: "/").map { String(original[..<$0]) } ?? "/"
        let handle = KernelFileHandle(type: Int32(truncatingIfNeeded: r.handleType), bytes: r.handle)
        for place in [dir.isEmpty ? "/" : dir, InotifyWatches.mountPoint(device: f.device) ?? "/"] {
            let mount = open(place, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard mount >= 0 else { continue }
            defer { Glibc.close(mount) }
            guard let fd = handle.open(mountFD: mount, flags: O_RDONLY | O_CLOEXEC) else { continue }
            var st = stat()
            if fstat(fd, &st) == 0 && UInt64(st.st_ino) == f.inode && UInt64(st.st_dev) == f.device { return fd }
            Glibc.close(fd)
        }
        return nil
    }

    /// Once every stub has opened its files: each file's owner and mode as
    /// saved (the mode last: chown clears set-id bits; and not before, so a
    /// mode that forbids the original open cannot stop the stub's).
    /// Returns what could not be given back.
    func finish() -> [String] {
        var warnings: [String] = []
        for (key, fd) in files where !found.contains(key) {
            guard let f = carriers[key], let r = f.unlinked else { continue }
            if r.uid != .max, r.gid != .max, r.uid != UInt64(geteuid()) || r.gid != UInt64(getegid()),
               fchown(fd, uid_t(r.uid), gid_t(r.gid)) != 0 {
                warnings.append("unlinked file \(f.path): owner \(r.uid):\(r.gid) not restored: \(errorText(errno))")
            }
            if fchmod(fd, mode_t(r.mode & 0o7777)) != 0 {
                warnings.append("unlinked file \(f.path): mode 0\(String(r.mode, radix: 8)) not restored: \(errorText(errno))")
            }
            // Its times last: writing the contents and chmod moved them.
            if let a = r.accessTime, let m = r.modificationTime {
                func spec(_ ns: Int64) -> timespec {
                    let (q, r) = ns.quotientAndRemainder(dividingBy: 1_000_000_000)
                    return r < 0 ? timespec(tv_sec: Int(q - 1), tv_nsec: Int(r + 1_000_000_000)) : timespec(tv_sec: Int(q), tv_nsec: Int(r))
                }
                var times = [spec(a), spec(m)]
                if futimens(fd, &times) != 0 { warnings.append("unlinked file \(f.path): times not restored: \(errorText(errno))") }
            }
        }
        return warnings
    }

    func close() {
        for fd in files.values { Glibc.close(fd) }
        files.removeAll()
    }
}
