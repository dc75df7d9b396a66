import CLinux
import Glibc
import LinuxKit

/// What a descriptor that could not be made again becomes: an O_PATH
/// descriptor of an empty memfd named for it, at its number. Left free, the
/// number went to the program's next open, socket or accept, which the
/// program then took for the old file (a server answering the wrong client,
/// a write landing in another file). On this one reads, writes, polls and
/// epoll registrations fail (EBADF, EPERM) as on a closed descriptor, and
/// /proc/PID/fd names it "swiftcr: fd N was not restored".
enum NumberHolder {
    /// Ours, to hand to the stub; nil where it cannot be made (the number then stays free, as before).
    static func make(for fd: Int32) -> Int32? {
        let name = "swiftcr: fd \(fd) was not restored"
        let memfd = Int32(truncatingIfNeeded: name.withCString { Syscall.raw(NR.memfd_create, Int(bitPattern: $0), 1 /* MFD_CLOEXEC */) })
        guard memfd >= 0 else { return nil }
        defer { close(memfd) }
        let holder = open("/proc/self/fd/\(memfd)", CL_O_PATH | O_CLOEXEC)
        return holder >= 0 ? holder : nil
    }
}
