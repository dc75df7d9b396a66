import Glibc
import LinuxKit

/// An open file inherited across fork is one kernel object in several
/// processes. kcmp tells whether two descriptors are the same open file.
final class SharedOpenFiles {
    private var holders: [[UInt64]: [(pid: pid_t, fd: Int32)]] = [:]
    private var lockHolders: [(pid: pid_t, fd: Int32, device: UInt64, inode: UInt64)] = []

    /// The first (pid, fd) of an earlier process that is the same open file,
    /// else nil (and this one is remembered).
    func earlierHolder(pid: pid_t, fd: Int32, device: UInt64, inode: UInt64) -> (pid: pid_t, fd: Int32)? {
        let key = [device, inode]
        for h in holders[key] ?? [] where h.pid != pid {
            if Self.same(h.pid, h.fd, pid, fd) { return h }
        }
        holders[key, default: []].append((pid, fd))
        return nil
    }

    /// flock and OFD locks belong to an open file, which a fork or dup shares:
    /// true unless an earlier descriptor (any process) is the same open file.
    func firstLockHolder(pid: pid_t, fd: Int32, device: UInt64, inode: UInt64) -> Bool {
        for h in lockHolders where h.device == device && h.inode == inode {
            if Self.same(h.pid, h.fd, pid, fd) { return false }
        }
        lockHolders.append((pid, fd, device, inode))
        return true
    }

    /// kcmp(KCMP_FILE) == 0.
    static func same(_ pidA: pid_t, _ fdA: Int32, _ pidB: pid_t, _ fdB: Int32) -> Bool {
        (try? rawSyscall("kcmp", NR.kcmp, Int(pidA), Int(pidB), 0, Int(fdA), Int(fdB))) == 0
    }
}
