import CLinux
import Glibc
import LinuxKit

/// System calls run inside the target, typed: one method per call, named as
/// the kernel's, so call sites read `remote.dup3(fd, to: 5, cloexec: true)`
/// and failures name the call. Throwing methods fail with the errno; `Raw`
/// ones return the kernel's result (-errno) for callers that decide.
extension RemoteSession {
    @discardableResult
    func prctl(_ option: Prctl, _ a2: UInt64 = 0, _ a3: UInt64 = 0, _ a4: UInt64 = 0, _ a5: UInt64 = 0) throws -> UInt64 {
        try call("prctl(\(option.name))", NR.prctl, UInt64(option.rawValue), a2, a3, a4, a5)
    }

    func prctlRaw(_ option: Prctl, _ a2: UInt64 = 0, _ a3: UInt64 = 0, _ a4: UInt64 = 0, _ a5: UInt64 = 0) throws -> Int64 {
        try injector.raw(NR.prctl, UInt64(option.rawValue), a2, a3, a4, a5)
    }

    /// dup3(fd, to, O_CLOEXEC if asked).
    func dup3(_ fd: UInt64, to target: some BinaryInteger, cloexec: Bool, what: @autoclosure () -> String = "") throws {
        try call("dup3(\(what()))", NR.dup3, fd, UInt64(truncatingIfNeeded: target), cloexec ? UInt64(O_CLOEXEC) : 0)
    }

    func close(_ fd: UInt64, what: @autoclosure () -> String = "") throws {
        try call("close(\(what()))", NR.close, fd)
    }

    /// close() whose failure does not matter (an fd being given back).
    func closeQuietly(_ fd: UInt64) { _ = try? raw(NR.close, fd) }

    @discardableResult
    func fcntl(_ fd: UInt64, _ command: Int32, _ argument: UInt64 = 0, what: @autoclosure () -> String = "") throws -> UInt64 {
        try call("fcntl(\(what()))", NR.fcntl, fd, UInt64(command), argument)
    }

    func fcntlRaw(_ fd: UInt64, _ command: Int32, _ argument: UInt64 = 0) throws -> Int64 {
        try raw(NR.fcntl, fd, UInt64(command), argument)
    }

    /// openat(AT_FDCWD, path, flags, mode), the kernel's result: a descriptor or -errno.
    func openRaw(_ path: String, flags: UInt64, mode: UInt64 = 0) throws -> Int64 {
        try raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), try putString(path), flags, mode)
    }

    func open(_ path: String, flags: UInt64, mode: UInt64 = 0) throws -> UInt64 {
        try call("open(\(path))", NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), try putString(path), flags, mode)
    }

    func lseek(_ fd: UInt64, to offset: Int64, what: @autoclosure () -> String = "") throws {
        try call("lseek(\(what()))", NR.lseek, fd, UInt64(bitPattern: offset), UInt64(SEEK_SET))
    }

    /// mmap; `fd` UInt64.max for anonymous memory.
    @discardableResult
    func mmap(_ address: UInt64, _ length: UInt64, protection: UInt64, flags: UInt64, fd: UInt64 = .max, offset: UInt64 = 0,
              what: @autoclosure () -> String) throws -> UInt64 {
        try call("mmap(\(what()))", NR.mmap, address, length, protection, flags, fd, offset)
    }

    /// mmap at a fixed place (the result is `address`), queued: see SyscallInjector.queue.
    func queueMmap(_ address: UInt64, _ length: UInt64, protection: UInt64, flags: UInt64, fd: UInt64 = .max, offset: UInt64 = 0,
                   what: @escaping @autoclosure () -> String) throws {
        try injector.queue("mmap(\(what()))", NR.mmap, address, length, protection, flags, fd, offset)
    }

    func queueMunmap(_ address: UInt64, _ length: UInt64, what: @escaping @autoclosure () -> String) throws {
        try injector.queue("munmap(\(what()))", NR.munmap, address, length)
    }

    func queueMprotect(_ address: UInt64, _ length: UInt64, _ protection: UInt64, what: @escaping @autoclosure () -> String) throws {
        try injector.queue("mprotect(\(what()))", NR.mprotect, address, length, protection)
    }

    func queueMadvise(_ address: UInt64, _ length: UInt64, _ advice: UInt64, what: @escaping @autoclosure () -> String) throws {
        try injector.queue("madvise(\(what()))", NR.madvise, address, length, advice)
    }

    func munmap(_ address: UInt64, _ length: UInt64, what: @autoclosure () -> String) throws {
        try call("munmap(\(what()))", NR.munmap, address, length)
    }

    func mprotect(_ address: UInt64, _ length: UInt64, _ protection: UInt64, what: @autoclosure () -> String) throws {
        try call("mprotect(\(what()))", NR.mprotect, address, length, protection)
    }

    func madvise(_ address: UInt64, _ length: UInt64, _ advice: UInt64, what: @autoclosure () -> String) throws {
        try call("madvise(\(what()))", NR.madvise, address, length, advice)
    }

    /// mount_setattr(fd, "", AT_EMPTY_PATH, {set, clear, propagation}) on
    /// one mount by its descriptor (covered ones too): 0 or -errno.
    func mountSetattrRaw(_ fd: UInt64, set: UInt64 = 0, clear: UInt64 = 0, propagation: Int = 0) throws -> Int64 {
        // struct mount_attr: attr_set, attr_clr, propagation, userns_fd.
        let attr = try put(bytes(of: (set, clear, UInt64(propagation), UInt64(0))), at: 64)
        return try raw(NR.mount_setattr, fd, try putString(""), UInt64(CL_AT_EMPTY_PATH), attr, 32)
    }
}
