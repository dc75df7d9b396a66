import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Reinstalls the image's file descriptors in the stub at their numbers.
/// The stub starts with the restorer's descriptors; 0, 1 and 2 are kept aside
/// for descriptors that were the process's terminal or pipes to the outside.
struct FileRestorer {
    let session: RemoteSession
    let process: ProcessState
    let log: Logger
    let objects: SharedFileObjects
    var pipes: PipeFactory { objects.pipes }

    /// Moves a freshly made descriptor to its number with its close-on-exec flag.
    func install(_ fd: UInt64, as f: FileDescriptorState) throws {
        let target = UInt64(f.fd)
        if fd != target {
            try session.call("dup3(\(f.path))", NR.dup3, fd, target, f.closeOnExec ? UInt64(O_CLOEXEC) : 0)
            try session.call("close", NR.close, fd)
        } else if f.closeOnExec {
            try session.call("fcntl(F_SETFD)", NR.fcntl, target, UInt64(F_SETFD), UInt64(FD_CLOEXEC))
        }
    }

    /// The path a stub opens for a descriptor: its own, or one of the restorer's objects.
    func source(of f: FileDescriptorState) throws -> String {
        switch f.kind {
        case .pipe: return try pipes.path(for: f)
        case .unlinked: return try objects.unlinked.path(for: f)
        case .memfd: return try objects.memory.path(for: f)
        default: return f.path
        }
    }

    /// A regular file whose size differs from the checkpoint's: restored anyway, with a warning (BLCR was silent).
    static func sizeChange(_ f: FileDescriptorState) -> String? {
        var st = stat()
        guard stat(f.path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_size) != f.fileSize else { return nil }
        return "fd \(f.fd) (\(f.path)) was \(f.fileSize) bytes at the checkpoint and is \(st.st_size) now"
    }

    func restore() throws -> [String] {
        var warnings: [String] = []
        let highest = UInt64(process.files.map(\.fd).max() ?? 2)
        // Nothing of the restorer's may leak into the restored process.
        try session.call("close_range", NR.close_range, 3, UInt64(UInt32.max), 0)
        let courier = FDCourier(session: session, parkAt: highest + 8)
        defer { try? courier.close() }
        var stdio: [Int32: UInt64] = [:]
        for k: Int32 in 0...2 {
            let r = try session.raw(NR.fcntl, UInt64(k), UInt64(F_DUPFD), highest + 1)
            if r >= 0 { stdio[k] = UInt64(r) }
            _ = try session.raw(NR.close, UInt64(k))
        }
        for f in process.files.sorted(by: { $0.fd < $1.fd }) {
            let target = UInt64(f.fd)
            let cloexec = f.closeOnExec ? UInt64(O_CLOEXEC) : 0
            if f.sharesWith != f.fd, process.files.contains(where: { $0.fd == f.sharesWith }) {
                try session.call("dup3(fd \(f.sharesWith) -> \(f.fd))", NR.dup3, UInt64(f.sharesWith), target, cloexec)
                continue
            }
            if f.sameAs.count == 2 {
                // Inherited across fork: the same open file as in the process restored earlier.
                let ours = try objects.borrow(pid: pid_t(f.sameAs[0]), fd: Int32(f.sameAs[1]))
                try install(try courier.deliver(ours), as: f)
                continue
            }
            switch f.kind {
            case .inherited:
                guard let from = stdio[f.inheritFrom] else {
                    warnings.append("fd \(f.fd) was \(f.path); this restart has no fd \(f.inheritFrom) to give it, so it stays closed")
                    continue
                }
                try session.call("dup3(stdio \(f.inheritFrom) -> \(f.fd))", NR.dup3, from, target, cloexec)
            case .pipe where pipes.leadsOutside(f):
                // As in BLCR: a pipe to a process outside the checkpoint becomes cr_restart's stdin (read end) or
                // stdout (write end); one that was the process's fd 0, 1 or 2 becomes cr_restart's of that number.
                let end: Int32 = (0...2).contains(f.inheritFrom) ? f.inheritFrom : (f.flags & UInt32(O_ACCMODE)) == UInt32(O_WRONLY) ? 1 : 0
                guard let from = stdio[end] else {
                    warnings.append("fd \(f.fd) (\(f.path)) leads outside the checkpoint, and this restart has no fd \(end) to give it: closed")
                    continue
                }
                try session.call("dup3(stdio \(end) -> \(f.fd))", NR.dup3, from, target, cloexec)
            case .regular, .device, .pipe, .unlinked, .fifo, .memfd:
                if f.kind == .fifo, let w = try pipes.holdFIFO(f) { warnings.append(w) }
                let source = try self.source(of: f)
                if f.kind == .regular, let w = Self.sizeChange(f) { warnings.append(w) }
                let p = try session.putString(source)
                var flags = UInt64(f.flags) & ~UInt64(O_CREAT | O_TRUNC | O_EXCL)
                if f.kind == .device { flags |= UInt64(O_NOCTTY) }
                let opened = try session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), p, flags, 0)
                if opened == -Int64(EACCES), f.fd <= 2, let from = stdio[f.fd] {
                    // Standard streams a root shell redirected to its own files: a user's restart cannot open them.
                    warnings.append("fd \(f.fd) (\(f.path)) cannot be reopened by this user (Permission denied); it is cr_restart's fd \(f.fd) instead")
                    try session.call("dup3(stdio \(f.fd) -> \(f.fd))", NR.dup3, from, target, cloexec)
                    continue
                }
                guard opened >= 0 else {
                    throw CheckpointError(Int32(-opened), "cannot reopen fd \(f.fd) (\(f.path)): \(String(cString: strerror(Int32(-opened))))")
                }
                try install(UInt64(opened), as: f)
                if (f.kind == .regular || f.kind == .unlinked || f.kind == .memfd) && f.offset > 0 {
                    try session.call("lseek(\(f.path))", NR.lseek, target, UInt64(bitPattern: f.offset), UInt64(SEEK_SET))
                }
            case .unixSocket where (0...2).contains(f.inheritFrom) && objects.sockets.peerIsOutside(f):
                // Stdio connected to someone outside the checkpoint: cr_restart's, as for pipes.
                guard let from = stdio[f.inheritFrom] else {
                    warnings.append("fd \(f.fd) (\(f.path)) leads outside the checkpoint, and this restart has no fd \(f.inheritFrom) to give it: closed")
                    continue
                }
                try session.call("dup3(stdio \(f.inheritFrom) -> \(f.fd))", NR.dup3, from, target, cloexec)
            case .unixSocket, .inetSocket, .tcpConnection:
                switch try objects.sockets.socket(for: f) {
                case .socket(let ours): try install(try courier.deliver(ours), as: f)
                case .socketWithWarning(let ours, let why):
                    warnings.append(why)
                    try install(try courier.deliver(ours), as: f)
                case .closed(let why): warnings.append(why)
                }
            case .eventfd, .signalfd, .timerfd, .inotify:
                try install(try AnonInodeRestorer.create(f, in: session), as: f)
            case .epoll:
                // Created now, filled once every watched descriptor is back (below).
                try install(try session.call("epoll_create1", NR.epoll_create1, 0), as: f)
            case .unsupported, .unknown:
                warnings.append("fd \(f.fd) (\(f.path)) was not saved and is closed")
            }
        }
        for f in process.files where f.kind == .epoll && f.sameAs.isEmpty {
            for k in stride(from: 0, to: f.values.count, by: 3) {
                let (tfd, events, data) = (f.values[k], f.values[k + 1], f.values[k + 2])
                // struct epoll_event is packed on x86_64: u32 events, u64 data.
                let event = withUnsafeBytes(of: UInt32(truncatingIfNeeded: events)) { Array($0) } + withUnsafeBytes(of: data) { Array($0) }
                let r = try session.raw(NR.epoll_ctl, UInt64(f.fd), 1, tfd, try session.put(event))  // EPOLL_CTL_ADD
                if r < 0 { warnings.append("epoll fd \(f.fd): fd \(tfd) could not be watched again (\(String(cString: strerror(Int32(-r)))))") }
            }
        }
        try LockRestorer(session: session).restore(process.files)
        for fd in stdio.values where !process.files.contains(where: { UInt64($0.fd) == fd }) {
            _ = try session.raw(NR.close, fd)
        }
        return warnings
    }
}
