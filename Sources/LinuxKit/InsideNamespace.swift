import Glibc
import SystemPackage

/// Files whose contents depend on the reader's namespace (/proc/PID/cgroup
/// paths, /proc/sys/kernel/hostname), read as a process of another
/// namespace sees them: a short-lived child of ours enters the process's
/// user namespace (where a user owning it has the capability setns wants;
/// harmless when it is ours), then its namespace of `kind`, reads the file
/// and hands the bytes back through a pipe.
public enum InsideNamespace {
    /// In a raw child (system calls only): enters the process's user
    /// namespace (failing harmlessly when it is ours), then its namespace
    /// at `namespace` (/proc/PID/ns/KIND). False with errno set if it cannot.
    static func enter(user: UnsafePointer<CChar>, namespace: UnsafePointer<CChar>, flag: UInt64) -> Bool {
        // Both opened first: inside the user namespace, root's privilege over
        // the process's /proc files is gone (one that changed its IDs is not dumpable).
        let u = Syscall.raw(NR.openat, Int(AT_FDCWD), Int(bitPattern: user), Int(O_RDONLY | O_CLOEXEC))
        let ns = Syscall.raw(NR.openat, Int(AT_FDCWD), Int(bitPattern: namespace), Int(O_RDONLY | O_CLOEXEC))
        if u >= 0 { _ = Syscall.raw(NR.setns, u, Int(CloneFlags.newUser)); _ = Syscall.raw(NR.close, u) }
        guard ns >= 0, Syscall.raw(NR.setns, ns, Int(flag)) == 0 else { return false }
        _ = Syscall.raw(NR.close, ns)
        return true
    }

    /// The file's first 16 KiB, or the errno that stopped the child.
    public static func read(_ path: String, of pid: pid_t, namespace kind: String, flag: UInt64) -> Result<[UInt8], Errno> {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return .failure(Errno(rawValue: errno)) }
        defer { close(ends[0]) }
        // Built before the clone: the child may only make system calls.
        guard let nsPath = strdup("/proc/\(pid)/ns/\(kind)"), let userPath = strdup("/proc/\(pid)/ns/user"), let filePath = strdup(path) else {
            close(ends[1])
            return .failure(Errno(rawValue: ENOMEM))
        }
        defer { free(nsPath); free(userPath); free(filePath) }
        let room = 16384
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: room, alignment: 8)
        defer { buffer.deallocate() }
        let writeEnd = ends[1]
        let spawned = RawChild.spawn {
            if !enter(user: userPath, namespace: nsPath, flag: flag) { Syscall.exitGroup(Int(Glibc.errno)) }
            let file = Syscall.raw(NR.openat, Int(AT_FDCWD), Int(bitPattern: UnsafeRawPointer(filePath)), Int(O_RDONLY | O_CLOEXEC))
            if file < 0 { Syscall.exitGroup(Int(Glibc.errno)) }
            let n = Syscall.raw(NR.read, file, Int(bitPattern: buffer), room)
            if n < 0 || Syscall.raw(NR.write, Int(writeEnd), Int(bitPattern: buffer), n) != n { Syscall.exitGroup(Int(EIO)) }
            Syscall.exitGroup(0)
        }
        close(ends[1])
        guard case .success(let child) = spawned else { return .failure(Errno(rawValue: EAGAIN)) }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : EIO
        guard code == 0 else { return .failure(Errno(rawValue: code)) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(ends[0], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return .success(bytes)
    }

    /// Unmounts `path` (MNT_DETACH) as seen inside the mount namespace at
    /// `namespace` (a /proc path, e.g. /proc/self/fd/N of ours: the child
    /// has our descriptors), entered through the user namespace at `user`;
    /// then removes the directory (`removeDirectory`), and remounts the
    /// root (`thenRoot`: its filesystem read-only if so, then the mount's
    /// own flags), for a namespace lent a directory its read-only root lacked.
    public static func unmount(_ path: String, namespace: String, user: String, removeDirectory: Bool = false,
                               thenRoot: (superblockReadOnly: Bool, flags: UInt64)? = nil) -> Result<Void, Errno> {
        guard let nsPath = strdup(namespace), let userPath = strdup(user), let target = strdup(path), let slash = strdup("/") else {
            return .failure(Errno(rawValue: ENOMEM))
        }
        defer { free(nsPath); free(userPath); free(target); free(slash) }
        let spawned = RawChild.spawn {
            if !enter(user: userPath, namespace: nsPath, flag: CloneFlags.newMount) { Syscall.exitGroup(Int(Glibc.errno)) }
            if Syscall.raw(NR.umount2, Int(bitPattern: UnsafeRawPointer(target)), Int(MNT_DETACH)) != 0 { Syscall.exitGroup(Int(Glibc.errno)) }
            if removeDirectory && Syscall.raw(NR.rmdir, Int(bitPattern: UnsafeRawPointer(target))) != 0 { Syscall.exitGroup(Int(Glibc.errno)) }
            if let root = thenRoot {
                if root.superblockReadOnly && Syscall.raw(NR.mount, 0, Int(bitPattern: UnsafeRawPointer(slash)), 0, Int(MS_REMOUNT | MS_RDONLY), 0) != 0 {
                    Syscall.exitGroup(Int(Glibc.errno))
                }
                if Syscall.raw(NR.mount, 0, Int(bitPattern: UnsafeRawPointer(slash)), 0, Int(MS_REMOUNT | MS_BIND) | Int(root.flags), 0) != 0 {
                    Syscall.exitGroup(Int(Glibc.errno))
                }
            }
            Syscall.exitGroup(0)
        }
        guard case .success(let child) = spawned else { return .failure(Errno(rawValue: EAGAIN)) }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : EIO
        return code == 0 ? .success(()) : .failure(Errno(rawValue: code))
    }
}
