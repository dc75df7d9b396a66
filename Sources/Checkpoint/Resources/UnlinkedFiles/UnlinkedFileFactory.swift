import CheckpointImage
import Glibc
import LinuxKit

/// Files that were unlinked while open come back with the saved contents,
/// made by the restorer under their name in their mount namespace (through
/// /proc/<stub>/root: on the same filesystem and mount as before) and
/// unlinked once placed (or, if the name is taken, as O_TMPFILE files in the
/// original directory or /tmp); stubs open them through /proc/<restorer>/fd/N.
/// One file per original (device, inode), however many descriptors held it;
/// a descriptor that held it through another name or another mount (a bind
/// in another namespace) gets it linked there for a moment and opened by
/// that name: the same inode on its own mount, showing its own removed name.
final class UnlinkedFileFactory {
    /// Where a descriptor held the file: its mount namespace and removed name there.
    struct Place: Hashable {
        var namespace: Int
        var path: String
    }

    private struct Made {
        var base: Int32
        var placed: [Place: Int32] = [:]
        /// Found again (the very file, another name of it): left as it is.
        var found: Bool
    }

    private var made: [[UInt64]: Made] = [:]
    /// Per file, the descriptor whose record holds its contents, and where it was.
    private let carriers: [[UInt64]: (file: FileDescriptorState, place: Place)]
    /// Per file, every place a descriptor of the image held it, in image order.
    private let places: [[UInt64]: [Place]]
    /// The image's mount namespaces as made (nil: none besides ours).
    var mountNamespaces: MountNamespaceFactory?

    init(processes: [ProcessState]) {
        var c: [[UInt64]: (FileDescriptorState, Place)] = [:]
        var all: [[UInt64]: [Place]] = [:]
        for p in processes {
            for f in p.files where f.kind == .unlinked {
                let key = [f.device, f.inode], place = Self.place(f, processNamespace: p.mountNamespace)
                if all[key]?.contains(place) != true { all[key, default: []].append(place) }
                if f.fileContents != nil { c[key] = (f, place) }
            }
        }
        carriers = c
        places = all
    }

    static func place(_ f: FileDescriptorState, processNamespace: Int) -> Place {
        Place(namespace: f.mountNamespace ?? processNamespace, path: removedName(f.path))
    }

    private static func removedName(_ path: String) -> String {
        path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
    }

    private static func directory(_ path: String) -> String { CommonMountLink.directory(path) }

    /// Where namespace `k`'s paths are reached from here ("" for ours, and
    /// for one not made: its processes are then in ours).
    private func root(_ k: Int) -> String { k == 0 ? "" : (mountNamespaces?.root(of: k) ?? "") }

    /// The file a descriptor of the image saves for (device, inode), made
    /// if need be; nil if none does (a mapping alone).
    func path(device: UInt64, inode: UInt64) throws -> String? {
        guard let carrier = carriers[[device, inode]] else { return nil }
        return try path(for: carrier.file, at: carrier.place)
    }

    /// The file for descriptor `f` of a process of mount namespace `processNamespace`.
    func path(for f: FileDescriptorState, processNamespace: Int) throws -> String {
        try path(for: f, at: Self.place(f, processNamespace: processNamespace))
    }

    private func path(for f: FileDescriptorState, at place: Place) throws -> String {
        let key = [f.device, f.inode]
        let m: Made
        if let done = made[key] { m = done } else {
            m = try make(f, at: place)
            made[key] = m
        }
        return "/proc/\(getpid())/fd/\(m.placed[place] ?? m.base)"
    }

    /// The file, found again or made from its contents, and placed wherever a descriptor held it.
    private func make(_ f: FileDescriptorState, at asked: Place) throws -> Made {
        let key = [f.device, f.inode]
        let wanted = places[key] ?? [asked]
        if let (fd, name) = sameFile(f, at: carriers[key]?.place ?? asked) {
            var m = Made(base: fd, found: true)
            for p in wanted { if let there = linkedOpen(fd, named: name, at: p) { m.placed[p] = there } }
            return m
        }
        let first = wanted.first ?? asked
        let (fd, named) = try create(f, at: first)
        var m = Made(base: fd, found: false)
        if let named {
            // Linked from its name, which goes last (an inode without one cannot be linked).
            m.placed[first] = fd
            for p in wanted.dropFirst() { if let there = linkedOpen(fd, named: first, at: p) { m.placed[p] = there } }
            if unlink(named) != 0 {
                let e = errno
                for there in Set(m.placed.values).union([fd]) { Glibc.close(there) }
                throw CheckpointError(errno: e, "cannot remove the name of unlinked file \(named) again")
            }
        }
        try fill(fd, f)
        return m
    }

    /// A new file at `place` under its own name, kept until it is placed
    /// everywhere (/proc then shows "NAME (deleted)" as it did: programs and
    /// zdtm compare it). Where the name is taken, an O_TMPFILE file (shown as
    /// "/#INODE (deleted)") in its directory or in /tmp, with no name.
    private func create(_ f: FileDescriptorState, at place: Place) throws -> (fd: Int32, named: String?) {
        let target = root(place.namespace) + place.path
        let fd = open(target, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        if fd >= 0 { return (fd, target) }
        var tmp = open(root(place.namespace) + Self.directory(place.path), O_RDWR | O_CLOEXEC | OpenFlags.tmpFile, 0o600)
        if tmp < 0 { tmp = open("/tmp", O_RDWR | O_CLOEXEC | OpenFlags.tmpFile, 0o600) }
        guard tmp >= 0 else { throw CheckpointError(errno: errno, "cannot recreate unlinked file \(place.path)") }
        return (tmp, nil)
    }

    /// The saved contents into the new file.
    private func fill(_ fd: Int32, _ f: FileDescriptorState) throws {
        let key = [f.device, f.inode]
        let original = Self.removedName(f.path)
        guard let contents = carriers[key]?.file.fileContents else {
            throw CheckpointError(EINVAL, "fd \(f.fd) (\(f.path)): the image holds no contents for this unlinked file")
        }
        if let r = carriers[key]?.file.unlinked, r.size != 0 || !r.extents.isEmpty {
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
    }

    /// The file `fd` is, opened (O_PATH) through the name `place` had,
    /// linked there for the moment it takes: on that name's mount, showing
    /// it once removed again. Within one mount it is linked through /proc;
    /// across mounts (binds of different directories) through a mount that
    /// shows both its name `name` and that directory (CommonMountLink).
    /// Nil where it cannot be (the name taken, no such mount): `fd` serves.
    private func linkedOpen(_ fd: Int32, named name: Place?, at place: Place) -> Int32? {
        let target = root(place.namespace) + place.path
        var made: String?
        if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, target, AT_SYMLINK_FOLLOW) == 0 { made = target } else if errno == EXDEV {
            made = name.flatMap { commonMount.link($0, as: place) }
        }
        guard let made else { return nil }
        let there = open(target, OpenFlags.path | O_NOFOLLOW | O_CLOEXEC)
        unlink(made)
        var a = stat(), b = stat()
        guard there >= 0, fstat(there, &a) == 0, fstat(fd, &b) == 0, a.st_ino == b.st_ino, a.st_dev == b.st_dev else {
            if there >= 0 { Glibc.close(there) }
            return nil
        }
        return there
    }

    private var commonMount: CommonMountLink {
        let made = mountNamespaces
        return CommonMountLink(root: { [unowned self] in root($0) }, mounts: { made?.mounts(of: $0) },
                               namespaces: [0] + (made.map { Array(1...max(1, $0.namespaces.count)) } ?? []))
    }

    /// The file itself, if it still has another name and its handle opens it
    /// here (through its directory or any mount of its device) as the same
    /// inode; else that other name, where the dump found one (any user): the
    /// same device and inode, or the restart's copy of a saved tmpfs's file.
    /// With the name it was found by, where known.
    private func sameFile(_ f: FileDescriptorState, at place: Place) -> (fd: Int32, name: Place?)? {
        guard let r = carriers[[f.device, f.inode]]?.file.unlinked ?? f.unlinked else { return nil }
        if let fd = byHandle(f, r, at: place) { return (fd, nil) }
        guard let live = r.livePath else { return nil }
        let name = Place(namespace: r.liveNamespace ?? place.namespace, path: live)
        let fd = open(root(name.namespace) + live, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        var st = stat()
        if fd >= 0 && fstat(fd, &st) == 0 {
            if UInt64(st.st_ino) == f.inode && UInt64(st.st_dev) == f.device { return (fd, name) }
            if r.liveInSavedFiles && st.st_mode & S_IFMT == S_IFREG && UInt64(st.st_size) == r.size { return (fd, name) }
        }
        if fd >= 0 { Glibc.close(fd) }
        return nil
    }

    private func byHandle(_ f: FileDescriptorState, _ r: UnlinkedFileRecord, at place: Place) -> Int32? {
        guard !r.handle.isEmpty else { return nil }
        let handle = KernelFileHandle(type: Int32(truncatingIfNeeded: r.handleType), bytes: r.handle)
        for dir in [root(place.namespace) + Self.directory(place.path), InotifyWatches.mountPoint(device: f.device) ?? "/"] {
            let mount = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
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
        for (key, m) in made where !m.found {
            let fd = m.base
            guard let f = carriers[key]?.file, let r = f.unlinked else { continue }
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
        for m in made.values {
            for fd in Set(m.placed.values).union([m.base]) { Glibc.close(fd) }
        }
        made.removeAll()
    }
}
