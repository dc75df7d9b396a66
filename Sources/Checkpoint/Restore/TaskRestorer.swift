import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Per-process and per-thread state set by injected system calls once the
/// memory is back: cwd, umask, limits, signals, credentials, rseq.
struct TaskRestorer {
    let session: RemoteSession
    let process: ProcessState
    let log: Logger

    func restoreEnvironment() throws -> [String] {
        var warnings: [String] = []
        try restoreWorkingDirectory()
        if process.root != "/" {
            if try session.raw(NR.chroot, try session.putString(process.root)) < 0 {
                warnings.append("root directory \(process.root) not restored (chroot needs privilege)")
            }
        }
        try session.call("umask", NR.umask, UInt64(process.umask))
        for l in process.rlimits {
            let at = try session.put(value: rlimit(rlim_cur: rlim_t(l.soft), rlim_max: rlim_t(l.hard)))
            if try session.raw(NR.prlimit64, 0, UInt64(l.resource), at, 0) < 0 {
                // Raising a hard limit needs CAP_SYS_RESOURCE: keep the current limit.
                warnings.append("resource limit \(l.resource) could not be set to \(l.soft)/\(l.hard)")
            }
        }
        _ = try session.raw(NR.personality, process.personality)
        let name = Array(process.command.utf8.prefix(15)) + [0]
        try session.prctl(.setName, try session.put(name))
        warnings += try ProcessAttributes.restore(process, in: session)
        return warnings
    }

    /// A session leader's terminal gets its foreground process group back
    /// (every group of the tree exists by now).
    func restoreForegroundGroup(ids: RequestedIDs) throws -> [String] {
        guard process.sid == process.pid, process.terminal.count == 2 else { return [] }
        let saved = Int32(truncatingIfNeeded: Int64(bitPattern: process.terminal[1]))
        guard saved > 0, let group = ids(saved) else { return [] }
        let tty = try session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), try session.putString("/dev/tty"), UInt64(O_RDWR | O_NOCTTY | O_CLOEXEC), 0)
        guard tty >= 0 else { return [] }  // no terminal taken back: nothing to set
        defer { _ = try? session.raw(NR.close, UInt64(tty)) }
        let r = try session.raw(NR.ioctl, UInt64(tty), 0x5410, try session.put(value: group, at: 600))  // TIOCSPGRP
        return r < 0 ? ["process \(process.pid): foreground group \(group) of its terminal not restored: \(errorText(Int32(-r)))"] : []
    }

    /// A working directory removed while in use ("PATH (deleted)") is made
    /// again for the chdir and removed after it, so the process is left in a
    /// deleted directory as it was. One that exists again is simply entered;
    /// one the process also holds a descriptor of is entered through it.
    func restoreWorkingDirectory() throws {
        let suffix = " (deleted)"
        guard process.cwd.hasSuffix(suffix) else {
            try session.call("chdir(\(process.cwd))", NR.chdir, try session.putString(process.cwd))
            return
        }
        let path = String(process.cwd.dropLast(suffix.count))
        // A descriptor of the same removed directory is back already: the
        // working directory is that very directory, not another made alike.
        if let same = process.files.first(where: { $0.kind == .deletedDirectory && ($0.path == process.cwd || $0.path == path) }) {
            try session.call("fchdir(\(same.fd))", NR.fchdir, UInt64(same.fd))
            return
        }
        // The /proc directory of a process that is gone: a process of ours
        // lends its /proc directory for the chdir, then dies and is reaped.
        if path.hasPrefix("/proc/"), path.dropFirst(6).allSatisfy(\.isNumber), !path.dropFirst(6).isEmpty,
           case .success(let lender) = RawChild.spawn({ Syscall.pauseForever() }) {
            defer {
                kill(lender, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(lender, &status, 0)
            }
            try session.call("chdir(/proc/\(lender))", NR.chdir, try session.putString("/proc/\(lender)"))
            return
        }
        let made = mkdir(path, 0o700) == 0
        if !made && errno != EEXIST {
            throw CheckpointError(errno: errno, "working directory \(path) was deleted and cannot be made again for the restart")
        }
        if made { StandInDirectory.own(path, process.deletedCwdAttributes) }
        defer { if made { StandInDirectory.remove(path, process.deletedCwdAttributes) } }
        try session.call("chdir(\(path))", NR.chdir, try session.putString(path))
    }

    /// Nice first (it matters under SCHED_OTHER), then the policy with its
    /// priority. Raising either needs CAP_SYS_NICE (or RLIMIT_RTPRIO): said, not fatal.
    static func setScheduling(_ thread: ThreadState, tid: pid_t) -> [String] {
        var warnings: [String] = []
        // I/O priority: the idle and best-effort classes are anyone's; real-time wants CAP_SYS_ADMIN.
        if thread.ioPriority != 0 && !Syscall.setIOPriority(of: tid, Int(thread.ioPriority)) {
            warnings.append("thread \(thread.tid): I/O priority class \(thread.ioPriority >> 13) level \(thread.ioPriority & 0x1fff) not restored: \(errorText(errno))")
        }
        if let why = setPolicy(thread, tid: tid) { warnings.append(why) }
        return warnings
    }

    private static func setPolicy(_ thread: ThreadState, tid: pid_t) -> String? {
        // A deadline reservation waits for `setDeadline`: the kernel refuses one
        // to a thread pinned to fewer CPUs than its root domain, as stubs are.
        guard let s = thread.scheduling, !s.isDeadline else { return nil }
        if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid), s.nice) != 0 {
            return "thread \(thread.tid): nice \(s.nice) not restored: \(errorText(errno))"
        }
        var param = sched_param(sched_priority: Int32(s.priority))
        if sched_setscheduler(tid, Int32(bitPattern: s.policy), &param) != 0 {
            return "thread \(thread.tid): scheduling policy \(s.policy) priority \(s.priority) not restored: \(errorText(errno))"
        }
        return nil
    }

    /// A SCHED_DEADLINE thread's reservation (sched_setattr, from outside:
    /// CAP_SYS_NICE), once the restorer's pin is off it and its affinity
    /// is back. Also after every fork and clone of the restore: a deadline
    /// task cannot fork. The kernel's admission test may refuse it where
    /// the CPUs have no room left: said, not fatal.
    static func setDeadline(_ thread: ThreadState, tid: pid_t) -> String? {
        guard let s = thread.scheduling, s.isDeadline else { return nil }
        var attr = SchedulingAttributes()
        attr.sched_policy = ThreadState.Scheduling.deadlinePolicy
        attr.sched_flags = s.flags | (s.policy & ThreadState.Scheduling.resetOnFork != 0 ? 0x01 : 0)  // SCHED_FLAG_RESET_ON_FORK
        (attr.sched_runtime, attr.sched_deadline, attr.sched_period) = (s.runtime, s.deadline, s.period)
        guard s.runtime != 0 else {
            return "thread \(thread.tid): SCHED_DEADLINE not restored: the image (written before its reservation was saved) holds none"
        }
        if Syscall.setSchedulingAttributes(of: tid, attr) { return nil }
        return "thread \(thread.tid): SCHED_DEADLINE runtime \(s.runtime) deadline \(s.deadline) period \(s.period) ns not restored: \(errorText(errno))"
    }

    /// Drops the SIGCHLD that recreating zombie children queued in the stub:
    /// the process had received it before the checkpoint.
    func dropPendingChildSignal() throws {
        let set = try session.put(value: UInt64(1) << UInt64(SIGCHLD - 1), at: 1024)
        let zero = try session.put(value: timespec(tv_sec: 0, tv_nsec: 0), at: 1040)
        _ = try session.raw(NR.rt_sigtimedwait, set, 0, zero, 8)
    }

    /// Process-wide: signal actions and process-directed pending signals.
    func restoreSignals(pid: pid_t) throws {
        // A stub resets every action to the default at birth, and none is
        // changed before this stage (processes forked from a stub are forked
        // before it too): a default action is there already. Most of the 64
        // are, and each injected call costs a round trip through ptrace.
        for a in process.signalActions where a.signal != SIGKILL && a.signal != SIGSTOP {
            if a.handler == 0 && a.flags == 0 && a.restorer == 0 && a.mask == 0 { continue }
            let act = KernelSigaction(handler: a.handler, flags: a.flags, restorer: a.restorer, mask: a.mask)
            try session.call("rt_sigaction(\(a.signal))", NR.rt_sigaction, UInt64(a.signal), try session.put(value: act), 0, 8)
        }
        // Every signal is blocked in the stub, so these stay pending until detach.
        for info in process.sharedPending {
            let signo = try Self.signalNumber(info)
            try session.call("rt_sigqueueinfo(\(signo))", NR.rt_sigqueueinfo, UInt64(pid), UInt64(signo), try session.put(info))
        }
    }

    /// Per thread, run in that thread: alternate stack, thread-directed pending
    /// signals, rseq, robust list, clear_child_tid (and glibc's TID cache when
    /// the TID changed).
    static func restoreThread(_ thread: ThreadState, in session: RemoteSession, pid: pid_t, tid: pid_t) throws -> [String] {
        let alt = thread.altStack
        let disabled = alt.flags & 2 != 0
        let ss = KernelSignalStack(ss_sp: disabled ? 0 : alt.base, ss_flags: disabled ? 2 : (alt.flags & ~1), pad: 0, ss_size: disabled ? 0 : alt.size)
        try session.call("sigaltstack", NR.sigaltstack, try session.put(value: ss), 0)
        for info in thread.pendingSignals {
            let signo = try signalNumber(info)
            try session.call("rt_tgsigqueueinfo(\(signo))", NR.rt_tgsigqueueinfo, UInt64(pid), UInt64(tid), UInt64(signo), try session.put(info))
        }
        if let r = thread.rseq {
            try session.call("rseq(register)", NR.rseq, r.address, UInt64(r.size), 0, UInt64(r.signature))
        }
        if let slack = thread.timerSlackNanos {
            try session.prctl(.setTimerslack, slack)
        }
        if let name = thread.name {
            try session.prctl(.setName, try session.put(Array(name.utf8.prefix(15)) + [0]))
        }
        if thread.robustListHead != 0 {
            try session.call("set_robust_list", NR.set_robust_list, thread.robustListHead, thread.robustListLength)
        }
        if thread.tidAddress != 0 {
            try session.call("set_tid_address", NR.set_tid_address, thread.tidAddress)
            if tid != thread.tid {
                try session.memory.write(address: thread.tidAddress, bytes: withUnsafeBytes(of: Int32(tid)) { Array($0) })
            }
        }
        if let policy = thread.memoryPolicy {
            let mask = try session.put(AddressSpaceRestorer.words(policy.nodes), at: 2048)
            let r = try session.raw(NR.set_mempolicy, policy.mode, mask, UInt64(MemoryPolicy.maxWords * 64))
            if r < 0 { return ["thread \(thread.tid): memory policy (mode 0x\(String(policy.mode, radix: 16))) not restored: \(errorText(Int32(-r)))"] }
        }
        return []
    }

    /// si_signo of a saved siginfo, checked: it comes from the image.
    static func signalNumber(_ info: [UInt8]) throws -> Int32 {
        let signo = info.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        guard (1...64).contains(signo) else { throw CheckpointError(EINVAL, "image holds a pending signal numbered \(signo)") }
        return signo
    }

    /// Credentials last: never more than the restorer holds (the kernel checks).
    /// Returns what could not be set (supplementary groups a user may not give).
    func restoreCredentials() throws -> [String] {
        var warnings: [String] = []
        let uids = process.uids, gids = process.gids
        guard uids.count >= 3, gids.count >= 3 else { return [] }
        guard (uids + gids + process.groups).allSatisfy({ $0 <= UInt64(UInt32.max) }) else {
            throw CheckpointError(EINVAL, "image holds a user or group ID out of range")
        }
        // As root: the bounding set shrinks first (that needs CAP_SETPCAP), and
        // the permitted set must outlive the change of user ID to be set below.
        // A user's restorer in its own user namespace holds every capability
        // there, which its children inherit: they too get the saved sets.
        let caps = process.capabilities
        let setCaps = caps.count == 5 && (geteuid() == 0 || PIDNamespace.entered)
        if setCaps {
            for cap in 0...Self.lastCapability where caps[3] & (1 << UInt64(cap)) == 0 {
                _ = try session.prctlRaw(.capBoundingDrop, UInt64(cap))
            }
            _ = try session.prctlRaw(.setKeepCaps, 1)
        }
        if getegid() != gid_t(gids[1]) || getgid() != gid_t(gids[0]) {
            let g = try putSavedGroups()
            try session.call("setgroups", NR.setgroups, g.count, g.at)
            try session.call("setresgid", NR.setresgid, gids[0], gids[1], gids[2])
        } else if geteuid() == 0, Set(process.groups.map { gid_t(truncatingIfNeeded: $0) }) != Set(Self.currentGroups()) {
            // Same group IDs as the restorer but other supplementary groups:
            // root sets them exactly. A user may not (CAP_SETGID): the process
            // keeps the restorer's groups, which are that user's own.
            let g = try putSavedGroups()
            let r = try session.raw(NR.setgroups, g.count, g.at)
            if r < 0 { warnings.append("supplementary groups \(process.groups) not restored: \(errorText(Int32(-r)))") }
        }
        // The file-system IDs follow the effective ones unless set apart:
        // the group's while the user ID may still set any.
        if gids.count >= 4 && gids[3] != gids[1] { _ = try session.raw(NR.setfsgid, gids[3]) }
        if geteuid() != uid_t(uids[1]) || getuid() != uid_t(uids[0]) {
            try session.call("setresuid", NR.setresuid, uids[0], uids[1], uids[2])
        }
        if uids.count >= 4 && uids[3] != uids[1] { _ = try session.raw(NR.setfsuid, uids[3]) }
        if setCaps {
            warnings += try restoreCapabilities(caps)
        } else if caps.count == 5 && (caps[1] != 0 || caps[4] != 0) && geteuid() != 0 {
            warnings.append("capabilities (permitted 0x\(String(caps[1], radix: 16))) not restored: only root may give them")
        }
        if !setCaps && process.secureBits != 0 {
            warnings.append("securebits 0x\(String(process.secureBits, radix: 16)) not restored: only root may set them")
        }
        try restoreDumpableAndNoNewPrivs()
        return warnings
    }

    /// The saved supplementary groups in scratch memory, as setgroups takes them.
    func putSavedGroups() throws -> (count: UInt64, at: UInt64) {
        let groups = process.groups.map { UInt32(truncatingIfNeeded: $0) }
        return (UInt64(groups.count), try session.put(groups.flatMap { v in withUnsafeBytes(of: v) { Array($0) } }))
    }

    /// The last of the credentials stage: dumpable (a change of IDs resets it), then no_new_privs.
    func restoreDumpableAndNoNewPrivs() throws {
        if process.dumpable <= 1 { try session.prctl(.setDumpable, process.dumpable) }
        if process.noNewPrivs { try session.prctl(.setNoNewPrivs, 1) }
    }

    /// capset to the saved effective, permitted and inheritable sets, then
    /// the ambient ones (which need both of the last two), then KEEPCAPS off.
    /// Saved securebits need CAP_SETPCAP and come after the ambient raises
    /// (SECBIT_NO_CAP_AMBIENT_RAISE would refuse them): the first capset
    /// keeps CAP_SETPCAP for them, a second drops it where the process had not.
    func restoreCapabilities(_ caps: [UInt64]) throws -> [String] {
        var warnings: [String] = []
        let bits = process.secureBits
        let setPCAP: UInt64 = 1 << 8
        let first = bits != 0 ? [caps[0], caps[1] | setPCAP, caps[2] | setPCAP] : caps
        if let why = try capset(first) { warnings.append("capabilities not restored: capset: \(why)") }
        for cap in 0...Self.lastCapability where caps[4] & (1 << UInt64(cap)) != 0 {
            if try session.prctlRaw(.capAmbient, Prctl.capAmbientRaise, UInt64(cap)) < 0 {
                warnings.append("ambient capability \(cap) not restored")
            }
        }
        if bits != 0 {
            let r = try session.prctlRaw(.setSecurebits, bits)
            if r < 0 { warnings.append("securebits 0x\(String(bits, radix: 16)) not restored: \(errorText(Int32(-r)))") }
            if let why = try capset(caps) { warnings.append("capabilities not restored: capset: \(why)") }
        }
        // Locked, the flag is the saved securebits' already (and may not change).
        if bits & KeepCaps.keepCapsLockedBit == 0 { _ = try session.prctlRaw(.setKeepCaps, 0) }
        return warnings
    }

    /// capset(inheritable, permitted, effective) from caps[0...2]; nil when done, else why not.
    func capset(_ caps: [UInt64]) throws -> String? {
        // struct __user_cap_header_struct (version 3, this thread), then two __user_cap_data_struct.
        var data: [UInt32] = [0x2008_0522, 0]
        for shift: UInt64 in [0, 32] {
            data += [caps[2], caps[1], caps[0]].map { UInt32(truncatingIfNeeded: $0 >> shift) }
        }
        let header = try session.put(data.prefix(2).flatMap { v in withUnsafeBytes(of: v) { Array($0) } }, at: 512)
        let sets = try session.put(data.dropFirst(2).flatMap { v in withUnsafeBytes(of: v) { Array($0) } }, at: 544)
        let r = try session.raw(NR.capset, header, sets)
        return r < 0 ? errorText(Int32(-r)) : nil
    }

    /// The highest capability this kernel knows.
    static var lastCapability: Int {
        (try? Sys.readText("/proc/sys/kernel/cap_last_cap")).flatMap { Int($0.filter(\.isNumber)) }.map { min($0, 63) } ?? 40
    }

    /// The restorer's own supplementary groups, which a stub inherits.
    static func currentGroups() -> [gid_t] {
        let n = getgroups(0, nil)
        guard n > 0 else { return [] }
        var list = [gid_t](repeating: 0, count: Int(n))
        let got = getgroups(n, &list)
        return got > 0 ? Array(list.prefix(Int(got))) : []
    }

}
