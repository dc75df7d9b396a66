import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Reads a process's open file descriptors from /proc/PID/fd and fdinfo and
/// has each saved by the kind that claims it (Resources/, FileKinds.all).
/// What every descriptor has is done here: dups, open files shared across
/// fork, locks.
struct FileCollector {
    let pid: pid_t
    let log: Logger
    let context: DumpContext

    struct Identity: Equatable { var dev: UInt64; var ino: UInt64; var rdev: UInt64 }

    func collect() throws -> (files: [FileDescriptorState], warnings: [String]) {
        let descriptors = try read()
        let files = FileDumpContext(pid: pid, shared: context, log: log, descriptors: descriptors)
        defer { files.inFlight.close() }
        var openFiles = OpenFileIndex(pid: pid)
        for d in descriptors {
            let kind = FileKinds.claimant(of: d)
            // Descriptors that share one open file description (dup) are restored as dups.
            let shares = openFiles.first(sameAs: d.fd, inode: [d.device, d.inode, UInt64(d.st.st_rdev)]) ?? d.fd
            var state = FileDescriptorState(
                fd: d.fd, kind: .unsupported, path: d.link, flags: d.info.flags & ~UInt32(O_CLOEXEC),
                closeOnExec: d.info.flags & UInt32(O_CLOEXEC) != 0, offset: d.info.position,
                device: d.device, inode: d.inode, sharesWith: shares, fileSize: d.mode == S_IFREG ? UInt64(d.st.st_size) : 0)
            try kind.collect(d, into: &state, in: files)
            if [.regular, .fifo, .node].contains(state.kind) && !d.deleted { try refuseIfHidden(d) }
            if shares == d.fd && kind.followsForkSharing,
               let h = context.openFiles.earlierHolder(pid: pid, fd: d.fd, device: d.device, inode: d.inode) {
                state.sameAs = [UInt64(h.pid), UInt64(h.fd)]
            }
            state.locks = FileLocks.collect(d, openFiles: context.openFiles)
            if shares == d.fd {
                state.lease = OpenFileAttributes.lease(of: d)
                state.owner = OpenFileAttributes.owner(of: d, leased: state.lease != nil)
            }
            files.collected.append(state)
        }
        files.collected += try files.inFlight.describe(in: files)
        return (files.collected, files.warnings)
    }

    /// A file reopened by path whose directory a mount was made over since
    /// it was opened (zdtm overmount_file, _fifo, _dev): the path now leads
    /// into that mount, where the restart would open another file or none.
    /// Refused here rather than saved as an image no restart can bring back.
    /// (A file on another mount namespace's mount, whose mount is not in the
    /// process's table, is MountNamespaces' to place.)
    func refuseIfHidden(_ d: OpenDescriptor) throws {
        guard d.info.mountID >= 0, let slash = d.link.lastIndex(of: "/") else { return }
        let directory = "/proc/\(pid)/root" + (slash == d.link.startIndex ? "/" : String(d.link[..<slash]))
        guard let now = KernelFileHandle.mountID(of: directory), now != d.info.mountID,
              (try? MountInfo.read(pid: pid))?.contains(where: { Int($0.id) == d.info.mountID }) == true else { return }
        // The same file through another mount (a bind of the directory over itself) reopens fine.
        var st = stat()
        if stat("/proc/\(pid)/root" + d.link, &st) == 0 && st.st_dev == d.st.st_dev && st.st_ino == d.st.st_ino { return }
        throw CheckpointError(EBUSY, "process \(pid) fd \(d.fd) (\(d.link)): a mount was made over its directory since it was opened, so its path leads elsewhere now; swiftcr reopens such files by path and cannot save this one")
    }

    /// Every descriptor with its link, stat and fdinfo; those closed meanwhile are left out.
    func read() throws -> [OpenDescriptor] {
        let raw = try listFDs().compactMap { try Self.openDescriptor(pid: pid, fd: $0) }
        func identity(_ st: stat) -> Identity { Identity(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), rdev: UInt64(st.st_rdev)) }
        // Terminals and network sockets on stdio come from outside: they become cr_restart's
        // (a terminal whose master the tree holds is its own, reopened by path).
        // Pipes and UNIX sockets are judged at restart, when it is known whether their
        // other end is in the image (a pipeline or socketpair inside the tree).
        var stdio: [(Int32, Identity)] = []
        for i in raw where i.fd <= 2 && Self.isOutsideObject(i.st, i.link) {
            if (i.st.st_mode & S_IFMT) == S_IFSOCK, (try? context.unixSockets.all()[UInt64(i.st.st_ino)]) != nil { continue }
            if let n = Self.ptsIndex(i.link), context.scopePtyMasters.contains(n) { continue }
            stdio.append((i.fd, identity(i.st)))
        }
        return raw.map { i in
            OpenDescriptor(pid: pid, fd: i.fd, link: i.link, st: i.st, info: i.info, fdinfo: i.fdinfo,
                           outsideStdio: stdio.first { $0.1 == identity(i.st) }?.0)
        }
    }

    /// One descriptor with its link, stat and fdinfo; nil if it was closed meanwhile.
    static func openDescriptor(pid: pid_t, fd: Int32) throws -> OpenDescriptor? {
        guard let link = try? Sys.readLink("/proc/\(pid)/fd/\(fd)"),
              let text = try? Sys.readText("/proc/\(pid)/fdinfo/\(fd)") else { return nil }
        var st = stat()
        guard stat("/proc/\(pid)/fd/\(fd)", &st) == 0 else { return nil }
        return OpenDescriptor(pid: pid, fd: fd, link: String(decoding: link, as: UTF8.self), st: st, info: try FDInfo(parsing: text),
                              fdinfo: text, outsideStdio: nil)
    }

    func listFDs() throws -> [Int32] {
        let hidden = context.hiddenDescriptors[pid]
        do { return try Sys.numericEntries("/proc/\(pid)/fd").filter { $0 != hidden } } catch let e as SystemCallError {
            throw CheckpointError(e.errno.rawValue, "cannot list the files of process \(pid): \(e)")
        }
    }

    /// N of a /dev/pts/N link.
    static func ptsIndex(_ link: String) -> UInt64? {
        link.hasPrefix("/dev/pts/") ? UInt64(link.dropFirst(9)) : nil
    }

    /// Stdio objects that belong to whoever started the process: terminals and sockets.
    static func isOutsideObject(_ st: stat, _ link: String) -> Bool {
        let mode = st.st_mode & S_IFMT
        return mode == S_IFSOCK || (mode == S_IFCHR && (link.hasPrefix("/dev/pts/") || link.hasPrefix("/dev/tty") || link == "/dev/console"))
    }
}
