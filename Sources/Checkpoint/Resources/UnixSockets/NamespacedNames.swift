import Glibc
import LinuxKit

/// UNIX names live in a mount namespace: a socket of a process restored in
/// one of the image's namespaces is bound and connected there, by a child
/// of ours that enters it (setns) with the socket shared, makes the one
/// call and exits with its errno. Paths we touch ourselves (the socket
/// file's mode, owner, a stale file) go through /proc/<stub>/root.
extension SocketFactory {
    /// 0, or the errno of `call` (bind or connect of `fd`) made where the socket's process resolves paths.
    func inNamespace(of inode: UInt64, _ call: () -> Int) -> Int32 {
        guard let ns = namespaceOf[inode], let path = mountNamespaces?.file(of: ns) else { return call() == 0 ? 0 : errno }
        // Built before the clone: the child may only make system calls.
        guard let file = strdup(path) else { return ENOMEM }
        defer { free(file) }
        let spawned = RawChild.spawn {
            let fd = Syscall.raw(NR.openat, Int(AT_FDCWD), Int(bitPattern: UnsafeRawPointer(file)), Int(O_RDONLY | O_CLOEXEC))
            if fd < 0 || Syscall.raw(NR.setns, fd, Int(CloneFlags.newMount)) != 0 { Syscall.exitGroup(Int(Glibc.errno)) }
            Syscall.exitGroup(call() == 0 ? 0 : Int(Glibc.errno))
        }
        guard case .success(let child) = spawned else { return EAGAIN }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        return status & 0x7f == 0 ? (status >> 8) & 0xff : EIO
    }

    /// `path` (absolute) as reached from here for the socket's namespace.
    func reachable(_ path: String, of inode: UInt64) -> String {
        guard path.hasPrefix("/"), let ns = namespaceOf[inode], let root = mountNamespaces?.root(of: ns) else { return path }
        return root + path
    }
}
