import Glibc
import SystemPackage

/// A detached copy of one mount of another process's mount namespace, as
/// open_tree(OPEN_TREE_CLONE) without AT_RECURSIVE makes it: that mount
/// alone, none of the mounts on it, so what they cover can be read (a
/// directory's files under a mount point, as zdtm's mountpoints has).
/// open_tree clones only mounts of the caller's namespace, so a short-lived
/// child sharing our descriptor table enters the process's user namespace
/// (harmless when it is ours) and mount namespace and makes it there.
public enum DetachedMount {
    /// An O_PATH descriptor (ours, close-on-exec) of the copy of the mount
    /// at `path` in `pid`'s namespace, or the errno that stopped the child.
    public static func clone(_ path: String, of pid: pid_t) -> Result<Int32, Errno> {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return .failure(Errno(rawValue: errno)) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer { close(ends[0]); close(ends[1]) }
        // Built before the clone: the child may only make system calls.
        guard let nsPath = strdup("/proc/\(pid)/ns/mnt"), let userPath = strdup("/proc/\(pid)/ns/user"), let target = strdup(path) else {
            return .failure(Errno(rawValue: ENOMEM))
        }
        defer { free(nsPath); free(userPath); free(target) }
        let number = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        defer { number.deallocate() }
        let writeEnd = ends[1]
        // CLONE_FILES: the descriptor open_tree gives the child is ours too.
        let spawned = RawChild.spawn(flags: CloneFlags.files) {
            if !InsideNamespace.enter(user: userPath, namespace: nsPath, flag: CloneFlags.newMount) { Syscall.exitGroup(Int(Glibc.errno)) }
            let fd = Syscall.raw(NR.open_tree, Int(AT_FDCWD), Int(bitPattern: UnsafeRawPointer(target)), Int(OPEN_TREE_CLONE) | Int(O_CLOEXEC))
            if fd < 0 { Syscall.exitGroup(Int(Glibc.errno)) }
            number.pointee = Int32(fd)
            if Syscall.raw(NR.write, Int(writeEnd), Int(bitPattern: UnsafeRawPointer(number)), 4) != 4 {
                _ = Syscall.raw(NR.close, fd)  // (our table too: not left open behind our back)
                Syscall.exitGroup(Int(EIO))
            }
            Syscall.exitGroup(0)
        }
        guard case .success(let child) = spawned else { return .failure(Errno(rawValue: EAGAIN)) }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : EIO
        guard code == 0 else { return .failure(Errno(rawValue: code)) }
        var fd: Int32 = -1
        guard Glibc.read(ends[0], &fd, 4) == 4, fd >= 0 else { return .failure(Errno(rawValue: EIO)) }
        return .success(fd)
    }
}
