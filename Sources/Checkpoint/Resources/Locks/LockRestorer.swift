import CheckpointImage
import Glibc
import LinuxKit

/// Takes again, inside the restored process, the locks it held: flock and
/// OFD locks on the open file, POSIX record locks as the process. A lock now
/// held by someone else fails the restart: the process would otherwise
/// believe it holds a lock it does not.
struct LockRestorer {
    let session: RemoteSession

    static let setLock: UInt64 = 6, setOFDLock: UInt64 = 37  // F_SETLK, F_OFD_SETLK

    func restore(_ files: [FileDescriptorState]) throws {
        for f in files {
            for l in f.locks {
                let r: Int64
                switch l.kind {
                case .flock:
                    r = try session.raw(NR.flock, UInt64(f.fd), UInt64((l.write ? LOCK_EX : LOCK_SH) | LOCK_NB))
                case .posix, .ofd:
                    var record = [UInt8](repeating: 0, count: 32)  // struct flock: type, whence, start, len, pid
                    record[0] = l.write ? UInt8(F_WRLCK) : UInt8(F_RDLCK)
                    for k in 0..<8 {
                        record[8 + k] = UInt8(truncatingIfNeeded: l.start >> (8 * UInt64(k)))
                        record[16 + k] = UInt8(truncatingIfNeeded: l.length >> (8 * UInt64(k)))
                    }
                    r = try session.raw(NR.fcntl, UInt64(f.fd), l.kind == .posix ? Self.setLock : Self.setOFDLock, try session.put(record, at: 8192))
                }
                if r < 0 {
                    let what = l.kind == .flock ? "flock" : "\(l.kind == .posix ? "POSIX" : "OFD") lock on bytes \(l.start)+\(l.length == 0 ? "EOF" : String(l.length))"
                    throw CheckpointError(Int32(-r), "fd \(f.fd) (\(f.path)): cannot take its \(l.write ? "write" : "read") \(what) again: \(errorText(Int32(-r)))\(r == -Int64(EAGAIN) || r == -Int64(EWOULDBLOCK) ? " (another process holds it now; was the original killed?)" : "")")
                }
            }
        }
    }
}
