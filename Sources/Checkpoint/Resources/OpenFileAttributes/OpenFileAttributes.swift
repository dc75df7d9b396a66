import CheckpointImage
import Glibc
import LinuxKit

/// What an open file carries besides its kind's state, whatever the kind:
/// the owner that gets SIGIO/SIGURG (F_SETOWN_EX) with its signal
/// (F_SETSIG), O_ASYNC itself, and a lease (F_SETLEASE). Read through a borrowed copy of
/// the descriptor; set again inside the restored process once its
/// descriptors are back (after the locks).
enum OpenFileAttributes {
    static let setOwnerEx: UInt64 = 15, getOwnerEx: Int32 = 16, setSignal: UInt64 = 10, getSignal: Int32 = 11
    static let setLease: UInt64 = 1024

    /// The owner of an open file that signals (O_ASYNC, a lease's break) or may (a socket's SIGURG); nil if none.
    static func owner(of d: OpenDescriptor, leased: Bool = false) -> FileDescriptorState.Owner? {
        guard d.info.flags & UInt32(O_ASYNC) != 0 || d.mode == S_IFSOCK || leased,
              let copy = try? SocketBorrower.borrowOnce(pid: d.pid, fd: d.fd) else { return nil }
        defer { close(copy) }
        var owner: (type: Int32, pid: Int32) = (0, 0)
        let signal = fcntl(copy, getSignal)
        guard fcntl(copy, getOwnerEx, &owner) == 0, signal >= 0, owner.pid != 0 || signal != 0 else { return nil }
        return FileDescriptorState.Owner(type: UInt64(max(owner.type, 0)), pid: owner.pid, signal: signal)
    }

    static func lease(of d: OpenDescriptor) -> UInt64? {
        FileLockInfo.lease(fdinfo: d.fdinfo)
    }

    /// Sets owners and leases again in the restored process; `innerIDs` maps
    /// image PIDs to the ones the restored processes know. A lease the kernel refuses now is a warning.
    static func restore(_ files: [FileDescriptorState], session: RemoteSession, innerIDs: [pid_t: pid_t]) throws -> [String] {
        var warnings: [String] = []
        for f in files where f.sharesWith == f.fd {
            // The lease first: taking one makes the process the file's owner,
            // and breaking one signals that owner, which the real owner must not get.
            if let l = f.lease, let why = try restoreLease(l, of: f, session: session) { warnings.append(why) }
            if let o = f.owner {
                // A process, a thread that is a process's main one, or a group
                // (its leader's ID), as the restored processes know it.
                let pid = innerIDs[o.pid] ?? o.pid
                var ex = [UInt8](repeating: 0, count: 8)
                for k in 0..<4 {
                    ex[k] = UInt8(truncatingIfNeeded: UInt32(o.type) >> (8 * UInt32(k)))
                    ex[4 + k] = UInt8(truncatingIfNeeded: UInt32(bitPattern: pid) >> (8 * UInt32(k)))
                }
                let r = try session.raw(NR.fcntl, UInt64(f.fd), setOwnerEx, try session.put(ex, at: 8192))
                let s = try session.raw(NR.fcntl, UInt64(f.fd), setSignal, UInt64(o.signal))
                if r < 0 || s < 0 { warnings.append("fd \(f.fd): its SIGIO owner \(o.pid) or signal \(o.signal) could not be set again: \(errorText(Int32(-min(r, s))))") }
            }
            if f.flags & UInt32(O_ASYNC) != 0 && f.sameAs.isEmpty {
                // Only F_SETFL arms O_ASYNC, and only if the flag is off (files are
                // opened without it). Off first for one armed elsewhere (a socket
                // the restorer made): that moves its registration to this descriptor.
                let settable = UInt32(O_APPEND | O_ASYNC | O_NONBLOCK) | 0o40000 | 0o1000000  // and O_DIRECT, O_NOATIME
                _ = try session.raw(NR.fcntl, UInt64(f.fd), UInt64(F_SETFL), UInt64(f.flags & settable & ~UInt32(O_ASYNC)))
                let r = try session.raw(NR.fcntl, UInt64(f.fd), UInt64(F_SETFL), UInt64(f.flags & settable))
                if r < 0 { warnings.append("fd \(f.fd): O_ASYNC could not be set again: \(errorText(Int32(-r)))") }
            }
        }
        return warnings
    }

    /// Takes the lease again; one whose break had begun is broken again by
    /// an open from us, and the SIGIO that sends the stub is taken back.
    static func restoreLease(_ l: UInt64, of f: FileDescriptorState, session: RemoteSession) throws -> String? {
        let names = ["read", "write", "breaking", "breaking"]
        let wanted = l == 0 ? [F_RDLCK] : l == 1 || l == 3 ? [F_WRLCK] : [F_WRLCK, F_RDLCK]
        var r: Int64 = -Int64(EINVAL)
        for type in wanted where r < 0 { r = try session.raw(NR.fcntl, UInt64(f.fd), setLease, UInt64(type)) }
        if r < 0 { return "fd \(f.fd) (\(f.path)): its \(names[Int(l)]) lease could not be taken again: \(errorText(Int32(-r)))" }
        guard l >= 2 else { return nil }
        // An open that conflicts, without waiting: the lease is marked breaking and its holder told.
        let breaker = Glibc.open(f.path, (l == 3 ? O_RDONLY : O_WRONLY) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        let err = errno
        if breaker >= 0 { Glibc.close(breaker) }
        var sigio = [UInt8](repeating: 0, count: 8)
        sigio[(Int(SIGIO) - 1) / 8] = UInt8(1 << ((Int(SIGIO) - 1) % 8))
        let zero = [UInt8](repeating: 0, count: 16)
        _ = try session.raw(NR.rt_sigtimedwait, try session.put(sigio, at: 8192), 0, try session.put(zero, at: 8200), 8)
        guard breaker < 0 && err == EWOULDBLOCK else {
            return "fd \(f.fd) (\(f.path)): its lease was being broken, and could not be broken again (\(breaker >= 0 ? "the open did not conflict" : errorText(err))); it is held"
        }
        return nil
    }
}
