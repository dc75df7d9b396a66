import Glibc
import LinuxKit

/// A /proc that shows the PIDs of the PID namespace a user's restart makes
/// (PIDNamespace): with the outer one, /proc/<getpid()> of a restored
/// process named another process, or none.
///
/// PID 1 of the namespace makes a mount namespace of its own, a copy of the
/// restorer's (every path resolves as before; mounts made outside later
/// still propagate in). Each stub joins it as it is born. Once every
/// descriptor and path is back (some are reopened through the restorer's
/// /proc/PID/fd, which the new /proc would not show), PID 1 mounts a proc of
/// its namespace over /proc there. The restorer itself stays outside.
enum NamespaceProc {
    /// PID 1's mount namespace, for the stubs to join; -1 if it has none.
    nonisolated(unsafe) static private(set) var namespaceFD: Int32 = -1
    nonisolated(unsafe) private static var requestFD: Int32 = -1
    nonisolated(unsafe) private static var replyFD: Int32 = -1

    /// The two pipes: PID 1 reads requests and writes replies on the child ends.
    struct Channel {
        var childRead: Int32, childWrite: Int32
        fileprivate var parentWrite: Int32, parentRead: Int32
    }

    static func channel() throws -> Channel {
        var request: [Int32] = [0, 0], reply: [Int32] = [0, 0]
        guard pipe(&request) == 0 else { throw CheckpointError(errno: errno, "pipe for the namespace's PID 1") }
        guard pipe(&reply) == 0 else {
            close(request[0]); close(request[1])
            throw CheckpointError(errno: errno, "pipe for the namespace's PID 1")
        }
        for fd in request + reply { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return Channel(childRead: request[0], childWrite: reply[1], parentWrite: request[1], parentRead: reply[0])
    }

    /// When PID 1 could not be started.
    static func discard(_ c: Channel) {
        for fd in [c.childRead, c.childWrite, c.parentWrite, c.parentRead] { close(fd) }
    }

    /// Requests on the pipe: a byte, then for `setLastID` four more (the ID).
    private static let mountRequest: UInt8 = 1, lastIDRequest: UInt8 = 2

    /// In PID 1, system calls only: a mount namespace of its own, said on the
    /// reply pipe; then, when asked, ns_last_pid of the namespace set (a
    /// thread's ID, which only PID 1 here may do for a process that entered a
    /// user namespace), and last the mount, each result said too.
    static func serve(_ c: Channel) {
        var status: UInt8 = Syscall.raw(NR.unshare, Int(CloneFlags.newMount)) == 0 ? 0 : 1
        _ = withUnsafeMutablePointer(to: &status) { Syscall.raw(NR.write, Int(c.childWrite), Int(bitPattern: $0), 1) }
        var word: UInt8 = 0
        var asked = withUnsafeMutablePointer(to: &word) { Syscall.raw(NR.read, Int(c.childRead), Int(bitPattern: $0), 1) }
        while status == 0 && asked == 1 && word == lastIDRequest {
            var id: Int32 = 0
            let got = withUnsafeMutablePointer(to: &id) { Syscall.raw(NR.read, Int(c.childRead), Int(bitPattern: $0), 4) }
            var reply: UInt8 = got == 4 && writeLastID(id) ? 0 : 1
            _ = withUnsafeMutablePointer(to: &reply) { Syscall.raw(NR.write, Int(c.childWrite), Int(bitPattern: $0), 1) }
            asked = withUnsafeMutablePointer(to: &word) { Syscall.raw(NR.read, Int(c.childRead), Int(bitPattern: $0), 1) }
        }
        if status == 0 && asked == 1 {
            let proc: StaticString = "proc", target: StaticString = "/proc"
            let flags = Int(MS_NOSUID) | Int(MS_NODEV) | Int(MS_NOEXEC)
            let r = Syscall.raw(NR.mount, Int(bitPattern: proc.utf8Start), Int(bitPattern: target.utf8Start), Int(bitPattern: proc.utf8Start), flags, 0)
            status = r == 0 ? 0 : UInt8(truncatingIfNeeded: max(1, min(255, Int(Glibc.errno))))
            _ = withUnsafeMutablePointer(to: &status) { Syscall.raw(NR.write, Int(c.childWrite), Int(bitPattern: $0), 1) }
        }
        _ = Syscall.raw(NR.close, Int(c.childRead))
        _ = Syscall.raw(NR.close, Int(c.childWrite))
    }

    /// In PID 1: `id` into /proc/sys/kernel/ns_last_pid, written out digit by digit (no allocation).
    private static func writeLastID(_ id: Int32) -> Bool {
        guard id >= 0 else { return false }
        let path: StaticString = "/proc/sys/kernel/ns_last_pid"
        let fd = Syscall.raw(NR.openat, Int(AT_FDCWD), Int(bitPattern: path.utf8Start), Int(O_WRONLY | O_CLOEXEC))
        guard fd >= 0 else { return false }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let written = withUnsafeMutableBytes(of: &digits) { buffer -> Int in
            var n = Int(id), end = buffer.count
            repeat {
                end -= 1
                buffer[end] = UInt8(48 + n % 10)
                n /= 10
            } while n > 0
            return Syscall.raw(NR.write, fd, Int(bitPattern: buffer.baseAddress) + end, buffer.count - end) == buffer.count - end ? 1 : 0
        }
        _ = Syscall.raw(NR.close, fd)
        return written == 1
    }

    /// Whether PID 1 serves requests (it made its mount namespace) and has not mounted /proc yet.
    static var serving: Bool { requestFD >= 0 }

    /// In the restorer: PID 1 sets its namespace's ns_last_pid to `id`.
    static func setLastID(_ id: pid_t) throws {
        guard requestFD >= 0 else { throw CheckpointError(EPERM, "the PID namespace's PID 1 no longer takes requests") }
        // One write of five bytes: the request, then the ID as PID 1 reads it.
        let bytes = [lastIDRequest] + withUnsafeBytes(of: Int32(id)) { Array($0) }
        var status: UInt8 = 1
        let old = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, old) }
        guard write(requestFD, bytes, 5) == 5, read(replyFD, &status, 1) == 1 else {
            throw CheckpointError(EPIPE, "the PID namespace's PID 1 did not answer")
        }
        guard status == 0 else { throw CheckpointError(EPERM, "the PID namespace's PID 1 could not set ns_last_pid to \(id)") }
    }

    /// In the restorer once PID 1 runs: waits for its namespace and keeps it
    /// for the stubs. Without one (the kernel refused), nothing changes.
    static func adopt(_ c: Channel, reaper: pid_t) {
        close(c.childRead)
        close(c.childWrite)
        var status: UInt8 = 1
        let n = read(c.parentRead, &status, 1)
        let fd = n == 1 && status == 0 ? open("/proc/\(reaper)/ns/mnt", O_RDONLY | O_CLOEXEC) : -1
        guard fd >= 0 else {
            close(c.parentWrite)
            close(c.parentRead)
            return
        }
        (namespaceFD, requestFD, replyFD) = (fd, c.parentWrite, c.parentRead)
    }

    /// After the last path of the restore, before the processes run: the
    /// namespace's own /proc. A note when the kernel refuses (it wants a
    /// /proc already fully visible there), nil otherwise.
    static func mount() -> String? {
        guard requestFD >= 0 else { return nil }
        defer {
            close(requestFD); close(replyFD); close(namespaceFD)
            (requestFD, replyFD, namespaceFD) = (-1, -1, -1)
        }
        var word: UInt8 = mountRequest, status: UInt8 = 1
        // A PID 1 gone (killed) is EPIPE here, said in one line, not a SIGPIPE that ends cr_restart.
        let old = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, old) }
        guard write(requestFD, &word, 1) == 1, read(replyFD, &status, 1) == 1 else {
            return "the PID namespace's /proc was not mounted (its PID 1 did not answer): /proc shows the outer PIDs"
        }
        return status == 0 ? nil : "the PID namespace's /proc was not mounted (\(errorText(Int32(status)))): /proc shows the outer PIDs"
    }

    /// In a newborn stub, system calls only: into PID 1's mount namespace.
    /// False if it could not (it must not then run in the restorer's).
    static func join(_ fd: Int32) -> Bool {
        fd < 0 || Syscall.raw(NR.setns, Int(fd), Int(CloneFlags.newMount)) == 0
    }
}
