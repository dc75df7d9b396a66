import CheckpointImage
import Glibc
import LinuxKit

/// A character device reopened by name, as BLCR does (/dev/null, zero,
/// full, random, urandom, tty, a pseudo-terminal).
enum Devices: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.device]
    static let reopenable: Set<String> = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]

    static func claims(_ d: OpenDescriptor) -> Bool {
        d.mode == S_IFCHR && (reopenable.contains(d.link) || d.link.hasPrefix("/dev/pts/"))
    }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .device
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        if f.path.hasPrefix("/dev/pts/") && f.path.hasSuffix(" (deleted)") { return .local(try hungUpTerminal(f, in: c)) }
        // The slave of a terminal the image holds the master of: where that master came back.
        if let n = FileCollector.ptsIndex(f.path), c.objects.ptys.has(index: n) {
            return try PathReopen.open(f, source: c.objects.ptys.path(index: n), in: c, noCTTY: true)
        }
        return try PathReopen.open(f, source: f.path, in: c, noCTTY: true)
    }

    /// A terminal whose master was closed: the kernel hung it up (reads see
    /// end of file, writes EIO) and removed its node. The slave of a new
    /// pseudo-terminal, whose master is then closed, is the same.
    static func hungUpTerminal(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> Int32 {
        let master = try valueOrThrow("open(/dev/ptmx) for fd \(f.fd)") { Glibc.open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC) }
        defer { close(master) }
        var number: UInt32 = 0
        var unlock: Int32 = 0
        guard ioctl(master, PtyMasters.setLock, &unlock) == 0, ioctl(master, PtyMasters.getIndex, &number) == 0 else {
            throw CheckpointError(errno: errno, "fd \(f.fd) (\(f.path)): cannot make a terminal to hang up")
        }
        let flags = Int32(bitPattern: f.flags) & ~(O_CREAT | O_TRUNC | O_EXCL | O_ASYNC)
        let slave = try valueOrThrow("open(/dev/pts/\(number)) for fd \(f.fd)") { Glibc.open("/dev/pts/\(number)", flags | O_NOCTTY | O_CLOEXEC) }
        c.objects.closeLater(slave)
        return slave
    }
}
