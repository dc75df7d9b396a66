import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Reads a process's open file descriptors from /proc/PID/fd and fdinfo.
struct FileCollector {
    let pid: pid_t
    let log: Logger
    let pipes: SharedContentCapture
    /// Devices reopened by name, as BLCR does.
    static let reopenableDevices: Set<String> = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]

    struct Identity: Equatable { var dev: UInt64; var ino: UInt64; var rdev: UInt64 }

    func collect() throws -> (files: [FileDescriptorState], warnings: [String]) {
        let numbers = try listFDs()
        var warnings: [String] = []
        var infos: [(fd: Int32, link: String, st: stat, info: FDInfo, text: String)] = []
        var anonValues: [Int32: [UInt64]] = [:]
        for fd in numbers {
            guard let link = try? Sys.readLink("/proc/\(pid)/fd/\(fd)"),
                  let text = try? Sys.readText("/proc/\(pid)/fdinfo/\(fd)") else { continue }  // closed meanwhile
            var st = stat()
            guard stat("/proc/\(pid)/fd/\(fd)", &st) == 0 else { continue }
            infos.append((fd, String(decoding: link, as: UTF8.self), st, try FDInfo(parsing: text), text))
        }
        func identity(_ st: stat) -> Identity { Identity(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), rdev: UInt64(st.st_rdev)) }
        // Terminals and network sockets on stdio come from outside: they become cr_restart's.
        // Pipes and UNIX sockets are judged at restart, when it is known whether their
        // other end is in the image (a pipeline or socketpair inside the tree).
        var stdio: [(Int32, Identity)] = []
        for i in infos where i.fd <= 2 && Self.isOutsideObject(i.st, i.link) {
            if (i.st.st_mode & S_IFMT) == S_IFSOCK, (try? pipes.unixSockets()[UInt64(i.st.st_ino)]) != nil { continue }
            stdio.append((i.fd, identity(i.st)))
        }

        var result: [FileDescriptorState] = []
        var openFiles = OpenFileIndex(pid: pid)
        let sockets = SocketCollector(pid: pid, shared: pipes)
        for i in infos {
            let mode = i.st.st_mode & S_IFMT
            let cloexec = i.info.flags & UInt32(O_CLOEXEC) != 0
            let flags = i.info.flags & ~UInt32(O_CLOEXEC)
            var kind: FileDescriptorState.Kind
            var inherit: Int32 = -1
            if let s = stdio.first(where: { $0.1 == identity(i.st) }) {
                kind = .inherited
                inherit = s.0
            } else if (mode == S_IFREG || mode == S_IFDIR) && i.link.hasPrefix("/") && !i.link.hasSuffix(" (deleted)") {
                kind = .regular
            } else if mode == S_IFCHR && (Self.reopenableDevices.contains(i.link) || i.link.hasPrefix("/dev/pts/")) {
                kind = .device
            } else if mode == S_IFIFO && i.link.hasPrefix("pipe:[") {
                kind = .pipe
                if i.fd <= 2 { inherit = i.fd }  // the restarter's fd of that number, if the pipe leads outside
            } else if mode == S_IFIFO && i.link.hasPrefix("/") && !i.link.hasSuffix(" (deleted)") {
                kind = .fifo
                anonValues[i.fd] = [UInt64(i.st.st_mode & 0o7777)]
            } else if mode == S_IFREG && i.link.hasPrefix("/memfd:") {
                kind = .memfd
                anonValues[i.fd] = [UInt64(Self.seals(of: "/proc/\(pid)/fd/\(i.fd)")), UInt64(i.st.st_size)]
            } else if mode == S_IFREG && i.link.hasSuffix(" (deleted)") && i.st.st_size <= Self.unlinkedLimit {
                kind = .unlinked
            } else if i.link == "anon_inode:inotify" {
                kind = .inotify
            } else if mode == S_IFSOCK {
                kind = .unsupported  // until SocketCollector recognises it, below
                if i.fd <= 2 { inherit = i.fd }  // the restarter's fd of that number, if its peer is outside
            } else if let anon = AnonInodeState.parse(link: i.link, fdinfo: i.text) {
                kind = anon.kind
                anonValues[i.fd] = anon.values
            } else {
                kind = .unsupported
                warnings.append("fd \(i.fd) (\(i.link)) cannot be saved yet; it will be closed after restart")
            }
            // Descriptors that share one open file description (dup) are restored as dups.
            let shares = openFiles.first(sameAs: i.fd, inode: [UInt64(i.st.st_dev), UInt64(i.st.st_ino), UInt64(i.st.st_rdev)]) ?? i.fd
            var state = FileDescriptorState(
                fd: i.fd, kind: kind, path: i.link, flags: flags, closeOnExec: cloexec, offset: i.info.position,
                inheritFrom: inherit, device: UInt64(i.st.st_dev), inode: UInt64(i.st.st_ino), sharesWith: shares,
                fileSize: mode == S_IFREG ? UInt64(i.st.st_size) : 0)
            state.values = anonValues[i.fd] ?? []
            if mode == S_IFSOCK && kind == .unsupported && shares != i.fd, let first = result.first(where: { $0.fd == shares }) {
                state.kind = first.kind  // a dup: restored from the first descriptor
            } else if mode == S_IFSOCK && kind == .unsupported,
               let w = try sockets.describe(&state, inode: UInt64(i.st.st_ino), device: UInt64(i.st.st_dev)) {
                warnings.append(w)
            }
            if kind == .inotify {
                let places = ["/proc/\(pid)/cwd", "/proc/\(pid)/exe"].compactMap { try? String(decoding: Sys.readLink($0), as: UTF8.self) }
                    + infos.map(\.link).filter { $0.hasPrefix("/") }
                warnings += InotifyWatches.describe(&state, fdinfo: i.text, pid: pid, places: places)
            }
            if shares == i.fd && ![.inherited, .unsupported, .unixSocket, .inetSocket, .tcpConnection].contains(state.kind),
               let h = pipes.earlierHolder(pid: pid, fd: i.fd, device: UInt64(i.st.st_dev), inode: UInt64(i.st.st_ino)) {
                state.sameAs = [UInt64(h.pid), UInt64(h.fd)]
            }
            state.locks = locks(in: i.text, fd: i.fd, st: i.st)
            if kind == .memfd && i.st.st_size > Self.unlinkedLimit {
                warnings.append("fd \(i.fd) (\(i.link)): memfd of \(i.st.st_size) bytes; only pages mapped somewhere are saved")
            } else if kind == .unlinked || kind == .memfd, pipes.firstSight(device: UInt64(i.st.st_dev), inode: UInt64(i.st.st_ino)) {
                state.fileContents = try Self.contents(of: "/proc/\(pid)/fd/\(i.fd)", size: Int(i.st.st_size))
            }
            if kind == .pipe || kind == .fifo,
               let captured = try pipes.capture(pid: pid, fd: i.fd, readEnd: flags & UInt32(O_ACCMODE) != UInt32(O_WRONLY),
                                                 device: UInt64(i.st.st_dev), inode: UInt64(i.st.st_ino)) {
                state.pipeData = captured.data
                state.pipeCapacity = captured.capacity
            }
            result.append(state)
        }
        return (result, warnings)
    }

    /// The locks fdinfo lists for this descriptor. POSIX locks belong to the
    /// process; flock and OFD locks to the open file, kept once per open file.
    func locks(in fdinfo: String, fd: Int32, st: stat) -> [FileDescriptorState.Lock] {
        let listed = FileLockInfo.parse(fdinfo: fdinfo)
        guard !listed.isEmpty else { return [] }
        let first = listed.contains { $0.kind != .posix }
            ? pipes.firstLockHolder(pid: pid, fd: fd, device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) : true
        return listed.compactMap { l in
            guard l.kind == .posix || first else { return nil }
            let kind: FileDescriptorState.Lock.Kind = l.kind == .flock ? .flock : l.kind == .posix ? .posix : .ofd
            return .init(kind: kind, write: l.write, start: l.start, length: l.end.map { $0 - l.start + 1 } ?? 0)
        }
    }

    func listFDs() throws -> [Int32] {
        do { return try Sys.numericEntries("/proc/\(pid)/fd") } catch let e as SystemCallError {
            throw CheckpointError(e.errno.rawValue, "cannot list the files of process \(pid): \(e)")
        }
    }

    /// Unlinked files larger than this are not saved (closed after restart, with a warning).
    static let unlinkedLimit = off_t(64 << 20)

    /// Reads an unlinked file whole through its /proc/PID/fd link.
    static func contents(of path: String, size: Int) throws -> [UInt8] {
        let fd = try valueOrThrow("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var data = [UInt8](repeating: 0, count: size)
        let got = try data.withUnsafeMutableBytes { raw -> Int in
            var done = 0
            while done < size {
                let n = try valueOrThrow("pread(\(path))") { pread(fd, raw.baseAddress! + done, size - done, off_t(done)) }
                if n == 0 { break }
                done += n
            }
            return done
        }
        return Array(data[0..<got])
    }

    /// F_GET_SEALS through a fresh open of the memfd (seals belong to the inode).
    static func seals(of path: String) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        return max(fcntl(fd, 1034), 0)  // F_GET_SEALS
    }

    /// Stdio objects that belong to whoever started the process: terminals and sockets.
    static func isOutsideObject(_ st: stat, _ link: String) -> Bool {
        let mode = st.st_mode & S_IFMT
        return mode == S_IFSOCK || (mode == S_IFCHR && (link.hasPrefix("/dev/pts/") || link.hasPrefix("/dev/tty") || link == "/dev/console"))
    }
}
