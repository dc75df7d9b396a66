import CheckpointImage
import Glibc
import LinuxKit

/// For users who may not choose PIDs: the restorer moves into a new user and
/// PID namespace (where it holds CAP_CHECKPOINT_RESTORE), so the processes it
/// creates there get their original PIDs. It stays their parent from outside
/// the PID namespace; a small reaper is PID 1 inside.
enum PIDNamespace {
    /// Whether this process may choose PIDs where it is (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE).
    static var canChoosePIDs: Bool {
        guard let text = try? Sys.readText("/proc/self/status"),
              let eff = ProcStatus(parsing: text).signalSet("CapEff") else { return geteuid() == 0 }
        return eff & (UInt64(1) << 21) != 0 || eff & (UInt64(1) << 40) != 0
    }

    /// The first of the image's process and thread IDs held where the
    /// restorer is by what looks like the original still running (a process
    /// of the same name and owner, not exited): refused as root's restart
    /// refuses it (BLCR: EBUSY). An ID some unrelated process took since, or
    /// the original's unreaped zombie, is free in the namespace and not in the way.
    static func heldByOriginal(_ processes: [ProcessState]) -> pid_t? {
        for p in processes {
            for id in [p.pid] + p.threads.map(\.tid) where (kill(id, 0) == 0 || errno == EPERM) && !ExitingHolders.isExiting(id) {
                guard let status = try? ProcStatus.read(pid: id), let tgid = status.fields["Tgid"].flatMap({ pid_t($0) }),
                      let leader = tgid == id ? status : try? ProcStatus.read(pid: tgid) else { continue }
                if leader.fields["Name"] == p.command && leader.ids("Uid").first.map(UInt64.init) == p.uids.first { return id }
            }
        }
        return nil
    }

    /// Set once `enter()` succeeded: the restorer's children are in the new namespace.
    nonisolated(unsafe) static var entered = false

    /// Unshares, maps this user's uid and gid to themselves, and starts PID 1.
    /// - Parameter detach: PID 1 outlives the restorer (cr_restart --detach).
    static func enter(detach: Bool = false) throws {
        try unshare(user: true, why: "for the original PIDs (use --no-restore-pid)")
        let channel = try NamespaceProc.channel()
        let reaper: pid_t
        do { reaper = try detach ? spawnLastingReaper(channel) : spawnReaper(channel) } catch {
            NamespaceProc.discard(channel)
            throw error
        }
        NamespaceProc.adopt(channel, reaper: reaper)
        entered = true
    }

    /// A user's restart of an image of a whole PID namespace: a user and PID
    /// namespace, whose PID 1 is the image's root, the first process the
    /// restorer makes (no reaper of ours: the root reaps, as it did). Root
    /// needs none of this: its root stub is made in a new namespace by clone3
    /// (StubTree.rootMakesPIDNamespace).
    static func enter(forImage: Bool) throws {
        try unshare(user: !canChoosePIDs, why: "for the image's PID namespace")
        entered = true
    }

    /// unshare(CLONE_NEWPID), with a user namespace that maps this user's uid and gid to themselves.
    private static func unshare(user: Bool, why: String) throws {
        let uid = getuid(), gid = getgid()
        if case .failure(let e) = Syscall.unshare(user ? CloneFlags.newUser | CloneFlags.newPID : CloneFlags.newPID) {
            throw CheckpointError(e.rawValue, "cannot create a \(user ? "user and " : "")PID namespace \(why): \(e)")
        }
        guard user else { return }
        try write("/proc/self/setgroups", "deny")
        try write("/proc/self/uid_map", "\(uid) \(uid) 1")
        try write("/proc/self/gid_map", "\(gid) \(gid) 1")
    }

    static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno: errno, "open \(path)") }
        defer { close(fd) }
        let n = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard n == text.utf8.count else { throw CheckpointError(errno: errno, "write \(path)") }
    }

    /// PID 1 of the namespace: makes the mount namespace of its /proc
    /// (NamespaceProc), reaps orphans, and dies with the restorer
    /// (PR_SET_PDEATHSIG), which ends the namespace. System calls only.
    static func spawnReaper(_ channel: NamespaceProc.Channel) throws -> pid_t {
        let spawned = RawChild.spawn {
            let name: StaticString = "swiftcr-init"  // in the binary: no allocation in this child
            _ = Syscall.prctl(.setName, Int(bitPattern: name.utf8Start))
            _ = Syscall.prctl(.setPdeathsig, Int(SIGKILL))
            closeAll(except: channel.childRead, channel.childWrite, -1)
            NamespaceProc.serve(channel)
            while true {
                if Syscall.reapAny() < 0 { _ = Syscall.raw(NR.pause) }
            }
        }
        switch spawned {
        case .success(let pid): return pid
        case .failure(let e): throw CheckpointError(e.rawValue, "starting PID 1 of the namespace: \(e)")
        }
    }

    /// close_range around up to three descriptors (-1: none). No allocation.
    static func closeAll(except a: Int32, _ b: Int32, _ c: Int32) {
        var (x, y, z) = (a, b, c)
        if x > y { swap(&x, &y) }
        if y > z { swap(&y, &z) }
        if x > y { swap(&x, &y) }
        // Written out: an array here would allocate.
        var low = 0
        if x >= 0 { if Int(x) > low { _ = Syscall.raw(NR.close_range, low, Int(x) - 1, 0) }; low = Int(x) + 1 }
        if y >= 0 { if Int(y) > low { _ = Syscall.raw(NR.close_range, low, Int(y) - 1, 0) }; low = Int(y) + 1 }
        if z >= 0 { if Int(z) > low { _ = Syscall.raw(NR.close_range, low, Int(z) - 1, 0) }; low = Int(z) + 1 }
        _ = Syscall.raw(NR.close_range, low, Int(UInt32.max), 0)
    }

    /// The write end of the pipe a lasting PID 1 learns the restored processes from.
    nonisolated(unsafe) static var handOverFD: Int32 = -1
    /// Most restored processes a lasting PID 1 watches (memory it has from before it started).
    static let watchLimit = 4096

    /// PID 1 for a detached restart. The restored processes' parent is the
    /// restorer, outside the namespace: when it exits they go to a reaper out
    /// there, not to this one, which must still not end (that would kill the
    /// namespace) while any of them runs. It is told their PIDs through a
    /// pipe once the restart is done, watches them through pidfds, reaps
    /// orphans meanwhile, and ends once all of them and its own children are
    /// gone. System calls only, on memory it had before it started.
    static func spawnLastingReaper(_ channel: NamespaceProc.Channel) throws -> pid_t {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw CheckpointError(errno: errno, "pipe for the namespace's PID 1") }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let (readEnd, writeEnd) = (ends[0], ends[1])
        let pids = UnsafeMutablePointer<Int32>.allocate(capacity: watchLimit)
        let watch = UnsafeMutablePointer<pollfd>.allocate(capacity: watchLimit)
        defer { pids.deallocate(); watch.deallocate() }
        let spawned = RawChild.spawn {
            let name: StaticString = "swiftcr-init"
            _ = Syscall.prctl(.setName, Int(bitPattern: name.utf8Start))
            // Nothing of the restorer's stays open here: not the caller's
            // stdout, which a shell's $(cr_restart --detach ...) reads to its end.
            closeAll(except: readEnd, channel.childRead, channel.childWrite)
            NamespaceProc.serve(channel)
            var bytes = 0
            while bytes < watchLimit * 4 {
                let n = Syscall.raw(NR.read, Int(readEnd), Int(bitPattern: UnsafeMutableRawPointer(pids) + bytes), watchLimit * 4 - bytes)
                if n <= 0 { break }
                bytes += n
            }
            _ = Syscall.raw(NR.close, Int(readEnd))
            var count = 0
            for k in 0..<(bytes / 4) {
                let fd = Syscall.raw(NR.pidfd_open, Int(pids[k]), 0)
                if fd >= 0 { watch[count] = pollfd(fd: Int32(fd), events: Int16(POLLIN), revents: 0); count += 1 }
            }
            // Until every restored process has exited: reap orphans each second.
            var running = count
            while running > 0 {
                _ = Syscall.raw(NR.poll, Int(bitPattern: watch), count, 1000)
                while Syscall.raw(NR.wait4, -1, 0, Int(WNOHANG) | 0x4000_0000) > 0 {}
                // An exited one is retired (poll skips a negative fd and clears its
                // revents, so it is counted by fd, not by revents, from then on).
                for k in 0..<count where watch[k].fd >= 0 && watch[k].revents & Int16(POLLIN) != 0 { watch[k].fd = -1 }
                running = 0
                for k in 0..<count where watch[k].fd >= 0 { running += 1 }
            }
            // Their orphans are ours: reap until none is left.
            while true {
                if Syscall.reapAny() < 0 { Syscall.exitGroup(0) }
            }
        }
        close(readEnd)
        switch spawned {
        case .success(let pid):
            handOverFD = writeEnd
            return pid
        case .failure(let e):
            close(writeEnd)
            throw CheckpointError(e.rawValue, "starting PID 1 of the namespace: \(e)")
        }
    }

    /// Tells a lasting PID 1 the restored processes (their PIDs in the
    /// namespace); after a failed restart, nothing (it then ends once its
    /// children are gone).
    static func handOver(_ pids: [pid_t]) {
        guard handOverFD >= 0 else { return }
        var list = pids.prefix(watchLimit).map { Int32($0) }
        _ = list.withUnsafeMutableBytes { Glibc.write(handOverFD, $0.baseAddress, $0.count) }
        close(handOverFD)
        handOverFD = -1
    }
}
