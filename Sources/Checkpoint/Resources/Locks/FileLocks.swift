import CheckpointImage
import Glibc
import LinuxKit

/// The locks fdinfo lists for a descriptor. POSIX locks belong to the
/// process; flock and OFD locks to the open file, kept once per open file
/// (restored by LockRestorer once the descriptors are back).
enum FileLocks {
    static func collect(_ d: OpenDescriptor, openFiles: SharedOpenFiles) -> [FileDescriptorState.Lock] {
        let listed = FileLockInfo.parse(fdinfo: d.fdinfo)
        guard !listed.isEmpty else { return [] }
        let first = listed.contains { $0.kind != .posix }
            ? openFiles.firstLockHolder(pid: d.pid, fd: d.fd, device: d.device, inode: d.inode) : true
        return listed.compactMap { l in
            guard l.kind == .posix || first else { return nil }
            let kind: FileDescriptorState.Lock.Kind = l.kind == .flock ? .flock : l.kind == .posix ? .posix : .ofd
            return .init(kind: kind, write: l.write, start: l.start, length: l.end.map { $0 - l.start + 1 } ?? 0)
        }
    }
}
