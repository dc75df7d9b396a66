import CheckpointImage
import Glibc
import LinuxKit

/// A regular file or directory, reopened by path at its offset.
enum RegularFiles: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.regular]

    static func claims(_ d: OpenDescriptor) -> Bool {
        (d.mode == S_IFREG || d.mode == S_IFDIR) && d.link.hasPrefix("/") && !d.deleted
    }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .regular
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        // A log that grew since is what a running job's files do: said with -v.
        // One that shrank lost what the process may read or seek back to: a warning.
        if let (text, grew) = sizeChange(f) {
            if grew { c.log.info("\(text)") } else { c.warn(text) }
        }
        var st = stat()
        if stat(f.path, &st) != 0, errno == ENOENT, let inside = goneProcessFile(f.path) {
            return try openAsGone(f, inside, in: c)
        }
        if c.objects.missingFiles != .fail, stat(f.path, &st) != 0, errno == ENOENT {
            return try replaceMissing(f, in: c)
        }
        return try PathReopen.open(f, source: f.path, in: c, seek: true)
    }

    /// What follows /proc/PID/ in a path, if it has that form.
    static func goneProcessFile(_ path: String) -> Substring? {
        guard path.hasPrefix("/proc/") else { return nil }
        let rest = path.dropFirst(6)
        guard let slash = rest.firstIndex(of: "/"), rest[..<slash].allSatisfy(\.isNumber), !rest[..<slash].isEmpty else { return nil }
        return rest[rest.index(after: slash)...]
    }

    /// A file of a process that was gone already (/proc/PID/mountinfo kept
    /// open after PID died): opened as the same file of a short-lived process
    /// of ours, which then dies, so it reads as a gone process's again.
    static func openAsGone(_ f: FileDescriptorState, _ inside: Substring, in c: FileRestoreContext) throws -> RestoredFile {
        guard case .success(let lender) = RawChild.spawn({ Syscall.pauseForever() }) else {
            throw CheckpointError(EAGAIN, "fd \(f.fd) (\(f.path)): no process to lend its /proc files")
        }
        defer {
            kill(lender, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(lender, &status, 0)
        }
        return try PathReopen.open(f, source: "/proc/\(lender)/\(inside)", in: c, seek: false)
    }

    /// --missing-files recreate|devnull: the file is gone, the process goes on with a stand-in.
    static func replaceMissing(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        let accessMode = UInt64(f.flags) & UInt64(O_ACCMODE)
        if c.objects.missingFiles == .devnull {
            c.warn("fd \(f.fd) (\(f.path)) is gone; it is /dev/null now (--missing-files devnull)")
            let p = try c.session.putString("/dev/null")
            let fd = try c.session.call("open(/dev/null)", NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), p, accessMode, 0)
            try c.install(fd, as: f)
            return .inPlace
        }
        // Made again empty under its old name, with the process's offset (writes past the end leave a hole, as appends would).
        let p = try c.session.putString(f.path)
        let flags = (UInt64(f.flags) & ~UInt64(O_TRUNC | O_EXCL | O_ASYNC)) | UInt64(O_CREAT)
        let opened = try c.session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), p, flags, 0o644)
        guard opened >= 0 else {
            throw CheckpointError(errno: Int32(-opened), "fd \(f.fd) (\(f.path)) is gone and cannot be made again (--missing-files recreate)")
        }
        c.warn("fd \(f.fd) (\(f.path)) was gone; made again empty, at offset \(f.offset) (--missing-files recreate)")
        try c.install(UInt64(opened), as: f)
        if f.offset > 0 { try c.session.lseek(UInt64(f.fd), to: f.offset, what: f.path) }
        return .inPlace
    }

    /// A file whose size differs from the checkpoint's (restored anyway; BLCR was silent), and whether it grew.
    static func sizeChange(_ f: FileDescriptorState) -> (String, Bool)? {
        var st = stat()
        guard stat(f.path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_size) != f.fileSize else { return nil }
        return ("fd \(f.fd) (\(f.path)) was \(f.fileSize) bytes at the checkpoint and is \(st.st_size) now", UInt64(st.st_size) > f.fileSize)
    }
}
