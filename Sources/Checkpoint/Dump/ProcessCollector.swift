import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Gathers everything about one frozen, single-threaded process except page contents.
struct ProcessCollector {
    let frozen: FrozenProcess
    let log: Logger
    /// Shared by all processes of one checkpoint, so a pipe's bytes are saved once.
    var context = DumpContext(holdRepairs: false)
    var save: CheckpointOptions.SaveContents = []
    /// Pre-dumps and incremental checkpoints: a tracking descriptor is made in the process.
    var tracking: WriteTracking?

    struct Collected {
        var state: ProcessState
        var maps: [(MapsEntry, Mapping)]
        var warnings: [String]
        /// The main thread's injection session, kept for the stages after
        /// the collection (write tracking), until the process is thawed.
        var session: RemoteSession?
    }

    func collect() throws -> Collected {
        let pid = frozen.pid
        var steps = StageTimes()
        let stat = try ProcStat.read(pid: pid)
        let status = try ProcStatus.read(pid: pid)
        let smaps = SmapsRead(pid: pid)
        let quickMaps = try ProcMaps.parse(try Sys.readText("/proc/\(pid)/maps"), file: "/proc/\(pid)/maps")
        steps.lap("maps")
        // The main thread first: its TID is the PID, and it is recreated first.
        let tids = frozen.threads.filter { $0 == pid } + frozen.threads.filter { $0 != pid }
        guard tids.first == pid else { throw CheckpointError(ESRCH, "process \(pid) has no main thread left") }

        // Strict mode kills a process for any call but read, write, exit and
        // sigreturn: only a tracer that suspended seccomp may inject.
        if status.fields["Seccomp"] == "1" && geteuid() != 0 {
            throw CheckpointError(EPERM, "process \(pid) runs in seccomp strict mode, which any system call swiftcr injects would make the kernel kill; only root (which suspends seccomp while it traces) can checkpoint it")
        }
        // 64-bit code only: in a thread that runs 32-bit code (an i386
        // program, a 32-bit thread of Wine's) an injected `syscall` would go
        // through the i386 table, where the numbers mean other calls.
        for tid in tids {
            if let regs = frozen.originalRegisters[tid], regs.cs != Self.userCodeSegment64 {
                throw CheckpointError(ENOTSUP, "process \(pid): thread \(tid) runs 32-bit code (code segment 0x\(String(regs.cs, radix: 16))); swiftcr saves 64-bit code only")
            }
        }
        // State only the process can tell: inject system calls, all signals
        // blocked, each thread parked on a frame of its own state first, so a
        // checkpointer killed from here on leaves it as it was.
        var sessions: [RemoteSession] = []
        let trampoline = InjectionFrame.findTrampoline(pid: pid, maps: quickMaps)
        for tid in tids {
            guard let regs = frozen.originalRegisters[tid], let mask = frozen.originalMasks[tid] else {
                throw CheckpointError(ESRCH, "thread \(tid) vanished")
            }
            let instruction = try SyscallInjector.findInstruction(pid: tid, registers: regs, maps: quickMaps)
            let session = RemoteSession(pid: tid, injector: SyscallInjector(tid: tid, instruction: instruction, template: regs))
            frozen.modified.insert(tid)
            if let t = trampoline, let scratch = try InjectionFrame.arm(tid: tid, original: regs, mask: mask, maps: quickMaps, trampoline: t) {
                session.injector.returnTrampoline = t
                session.scratch = scratch
                session.scratchSize = InjectionFrame.scratchSize
            } else {
                log.debug("thread \(tid): no sigreturn frame (trampoline \(trampoline.map { String($0, radix: 16) } ?? "none")); a checkpointer killed now would leave it changed")
            }
            try Ptrace.setSignalMask(tid, ~UInt64(0))
            sessions.append(session)
        }
        steps.lap("park")
        testHookCheckpointPause("injection")
        let listedTimers = try ProcTimer.parse((try? Sys.readText("/proc/\(pid)/timers")) ?? "")
        let (task, threadParts, timers) = try TaskStateCollector.withScratch(main: sessions[0], others: Array(sessions.dropFirst())) {
            (try TaskStateCollector.process(sessions[0]), try sessions.map { try TaskStateCollector.thread($0) },
             try TaskStateCollector.timers(sessions[0], listed: listedTimers))
        }
        steps.lap("injected")
        frozen.heldSignals += sessions.flatMap { $0.injector.heldSignals }
        let handlers = Dictionary(uniqueKeysWithValues: task.actions.map { ($0.signal, (handler: $0.handler, flags: $0.flags)) })
        frozen.pendingHandlerCheck = { t in
            let st = try? ProcStatus.read(pid: t)
            let pendingNow = (st?.signalSet("SigPnd") ?? 0) | (st?.signalSet("ShdPnd") ?? 0)
            return SyscallRestart.interruptingHandler(pending: pendingNow, blocked: frozen.originalMasks[t] ?? 0, actions: handlers)
        }
        let threads = try zip(tids, threadParts).map { tid, part in try threadState(tid, part) }
        let sharedPending = try Ptrace.pendingSignals(pid, shared: true).map { bytes(of: $0) }

        var mm = ProcessState.MemoryLayoutFields()
        mm.startCode = stat.startCode; mm.endCode = stat.endCode
        mm.startData = stat.startData; mm.endData = stat.endData
        mm.startBrk = stat.startBrk; mm.brk = task.brk; mm.startStack = stat.startStack
        mm.argStart = stat.argStart; mm.argEnd = stat.argEnd; mm.envStart = stat.envStart; mm.envEnd = stat.envEnd
        let auxv = Auxv.parse(try Sys.readFile("/proc/\(pid)/auxv")).flatMap { [$0.type, $0.value] }

        steps.lap("threads")
        let (files, fileWarnings) = try FileCollector(pid: pid, log: log, context: context).collect()
        steps.lap("files")
        let maps = try smaps.result()
        steps.lap("smaps")
        let classified = maps.map { ($0, MappingClassifier.kind(of: $0)) }
        var mappings: [Mapping] = []
        var warnings = fileWarnings
        let root = pathRoot()
        for (m, kind) in classified {
            mappings.append(try describe(m, kind: kind, root: root, warnings: &warnings))
        }
        let finalKinds = zip(classified, mappings).map { ($0.0.0, $0.1) }
        steps.lap("mappings")

        var state = ProcessState(
            pid: pid, ppid: stat.ppid, pgid: stat.pgrp, sid: stat.session, command: stat.comm,
            executable: (try? String(decoding: Sys.readLink("/proc/\(pid)/exe"), as: UTF8.self)) ?? "",
            uids: status.ids("Uid").map(UInt64.init), gids: status.ids("Gid").map(UInt64.init),
            groups: status.ids("Groups").map(UInt64.init), umask: status.umask ?? 0o022,
            cwd: String(decoding: try Sys.readLink("/proc/\(pid)/cwd"), as: UTF8.self),
            root: String(decoding: try Sys.readLink("/proc/\(pid)/root"), as: UTF8.self),
            personality: task.personality, rlimits: try Self.rlimits(pid), mm: mm, auxv: auxv,
            signalActions: task.actions, sharedPending: sharedPending, threads: threads,
            mappings: mappings, files: files, dumpable: task.dumpable, parentDeathSignal: threadParts.first?.parentDeathSignal ?? 0)
        state.intervalTimers = timers.0
        state.posixTimers = timers.1
        state.noNewPrivs = status.fields["NoNewPrivs"] == "1"
        if state.cwd.hasSuffix(" (deleted)") { state.deletedCwdAttributes = StandInDirectory.attributes(of: "/proc/\(pid)/cwd") }
        if stat.ttyNumber != 0 { state.terminal = [UInt64(stat.ttyNumber), UInt64(bitPattern: Int64(stat.terminalGroup))] }
        let sets = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].compactMap { status.fields[$0].flatMap { UInt64($0, radix: 16) } }
        if sets.count == 5 { state.capabilities = sets }
        // A thread whose credentials are its own (a raw setresuid in it).
        for k in state.threads.indices where state.threads[k].tid != pid {
            guard let st = try? ProcStatus.read(pid: state.threads[k].tid) else { continue }
            let own = st.ids("Uid").map(UInt64.init) + st.ids("Gid").map(UInt64.init)
                + ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].compactMap { st.fields[$0].flatMap { UInt64($0, radix: 16) } }
            if own.count == 13 && own != state.uids + state.gids + state.capabilities { state.threads[k].credentials = own }
            // A thread's own name (pthread_setname_np): threads otherwise get the process's.
            if let comm = try? Sys.readText("/proc/\(pid)/task/\(state.threads[k].tid)/comm"), comm.dropLast() != stat.comm {
                state.threads[k].name = String(comm.dropLast().prefix(15))
            }
        }
        steps.lap("ids")
        try TaskStateCollector.withScratch(main: sessions[0], others: []) {
            try ProcessAttributes.collect(AttributeSource(pid: pid, session: sessions[0]), into: &state)
            try MemoryPolicies.collect(pid: pid, session: sessions[0], into: &state.mappings)
        }
        steps.lap("attributes")
        if let why = seccomp(&state.threads) { warnings.append(why) }
        CgroupCollector.collect(into: &state)
        // After the files were read: the tracking descriptor is not the program's.
        try tracking?.makeDescriptor(pid, session: sessions[0])
        steps.lap("rest")
        log.debug("process \(pid): \(steps)")
        return Collected(state: state, maps: finalKinds, warnings: warnings, session: sessions[0])
    }

    /// Registers, FPU state, mask, pending signals, rseq and robust list of one
    /// thread, plus what injection found out about it.
    func threadState(_ tid: pid_t, _ part: TaskStateCollector.ThreadPart) throws -> ThreadState {
        guard let regs = frozen.originalRegisters[tid] else { throw CheckpointError(ESRCH, "thread \(tid) vanished") }
        let rseq = try Ptrace.rseqConfiguration(tid)
        var t = ThreadState(
            tid: tid, registers: RegisterFile.array(regs), xsave: try Ptrace.extendedState(tid),
            signalMask: frozen.originalMasks[tid] ?? 0,
            pendingSignals: try Ptrace.pendingSignals(tid, shared: false).map { bytes(of: $0) },
            altStack: part.altStack,
            rseq: rseq.rseq_abi_pointer == 0 ? nil : .init(address: rseq.rseq_abi_pointer, size: rseq.rseq_abi_size, signature: rseq.signature),
            tidAddress: part.tidAddress)
        (t.robustListHead, t.robustListLength) = try Ptrace.robustList(tid)
        t.timerSlackNanos = part.timerSlackNanos
        t.parentDeathSignal = part.parentDeathSignal
        t.memoryPolicy = part.memoryPolicy
        t.scheduling = Self.scheduling(tid)
        t.affinity = CPUPlacement.restrictedAffinity(tid)
        t.ioPriority = UInt64(max(0, Syscall.ioPriority(of: tid)))
        return t
    }

    /// Each thread's seccomp filters, read with ptrace (root only: it needs
    /// CAP_SYS_ADMIN). Anything not saved is said, not dropped quietly.
    func seccomp(_ threads: inout [ThreadState]) -> String? {
        for k in threads.indices {
            let mode = (try? ProcStatus(parsing: Sys.readText("/proc/\(frozen.pid)/task/\(threads[k].tid)/status")))?.fields["Seccomp"] ?? "0"
            if mode == "1" {
                threads[k].seccompStrict = true
                continue
            }
            guard mode == "2" else { continue }
            do {
                threads[k].seccompFilters = try Ptrace.seccompFilters(threads[k].tid).reversed()
            } catch {
                for j in threads.indices { threads[j].seccompFilters = [] }
                return "process \(frozen.pid) runs under a seccomp filter, which only root can read (\(error)): the restarted process runs without it"
            }
        }
        return nil
    }

    /// What a mapped file's path is found under from here: maps names it in
    /// the process's mount namespace, which may not be ours (MountNamespaces).
    func pathRoot() -> String {
        let theirs = try? Sys.readLink("/proc/\(frozen.pid)/ns/mnt")
        return theirs == nil || theirs == (try? Sys.readLink("/proc/self/ns/mnt")) ? "" : "/proc/\(frozen.pid)/root"
    }

    /// The image's record of one mapping; a private file that is gone or was
    /// replaced is kept whole as anonymous memory instead.
    func describe(_ m: MapsEntry, kind: Mapping.Kind, root: String = "", warnings: inout [String]) throws -> Mapping {
        if SecretMemory.isSecret(m) {
            throw SecretMemory.refusal(pid: frozen.pid, what: "the mapping at 0x\(String(m.start, radix: 16)) is memfd_secret memory")
        }
        var kind = kind
        var m = m
        // A shared mapping of a file that is still there under another name (sem_open's).
        if kind == .sharedAnonymous, m.deleted, m.isFileBacked, let path = m.path, path.hasPrefix("/"), !path.hasPrefix("/dev/zero"),
           let live = LiveLink.find(deleted: path, device: UInt64(Device.make(major: m.deviceMajor, minor: m.deviceMinor)), inode: m.inode, root: root) {
            m.path = live
            m.deleted = false
            kind = .sharedFile
        }
        var size: UInt64 = 0, mtime: UInt64 = 0, checksum: UInt32 = 0
        if kind == .privateFile || kind == .sharedFile, let path = m.path {
            var st = stat()
            let dev = UInt64(Device.make(major: m.deviceMajor, minor: m.deviceMinor))
            if stat(root + path, &st) == 0 && UInt64(st.st_ino) == m.inode && UInt64(st.st_dev) == dev {
                size = UInt64(st.st_size)
                mtime = UInt64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ UInt64(st.st_mtim.tv_nsec)
            } else if kind == .privateFile {
                kind = .anonymous
            } else {
                throw CheckpointError(ENOENT, "shared mapping of \(path) at 0x\(String(m.start, radix: 16)): the file is no longer there")
            }
        }
        var vdso: [UInt8] = []
        if m.path == "[vdso]" {
            vdso = try RemoteMemory(pid: frozen.pid).read(address: m.start, count: Int(m.length))
            checksum = CRC32C.checksum(vdso)
        }
        var mapping = Mapping(start: m.start, end: m.end, protection: MappingClassifier.protection(m), shared: m.shared,
                              growsDown: m.vmFlags.contains("gd"), kind: kind, path: m.path, offset: m.offset,
                              device: Device.make(major: m.deviceMajor, minor: m.deviceMinor), inode: m.inode,
                              fileSize: size, fileMtimeNanos: mtime, contentChecksum: checksum)
        mapping.advice = MappingClassifier.advice(m)
        mapping.hugePageSize = m.hugetlbPageSize
        mapping.content = vdso
        if (kind == .privateFile || kind == .sharedFile) && mapping.protection != 0, let path = m.path {
            let isExe = path == (try? String(decoding: Sys.readLink("/proc/\(frozen.pid)/exe"), as: UTF8.self))
            let posixShm = kind == .sharedFile && path.hasPrefix("/dev/shm/")
            mapping.savedWhole = posixShm || (kind == .privateFile ? save.contains(.privateFiles) || (isExe && save.contains(.executable))
                                                                  : save.contains(.sharedFiles))
            var st = stat()
            if mapping.savedWhole && stat(root + path, &st) == 0 {
                mapping.fileMode = UInt32(st.st_mode) & 0o7777
                mapping.fileOwner = [UInt64(st.st_uid), UInt64(st.st_gid)]
            }
        }
        return mapping
    }

    /// __USER_CS: the code segment of 64-bit user code (0x23 is 32-bit code's).
    static let userCodeSegment64: UInt64 = 0x33

    /// Asked from outside: policy (with the reset-on-fork flag), priority, nice.
    static func scheduling(_ tid: pid_t) -> ThreadState.Scheduling? {
        let policy = sched_getscheduler(tid)
        var param = sched_param()
        guard policy >= 0, sched_getparam(tid, &param) == 0 else { return nil }
        errno = 0
        let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid))
        guard errno == 0 else { return nil }
        var s = ThreadState.Scheduling(policy: UInt32(policy), priority: UInt32(max(0, param.sched_priority)), nice: nice)
        if s.isDeadline {
            // Its reservation is only in sched_attr; without it the restart could not make it again.
            guard let attr = Syscall.schedulingAttributes(of: tid), attr.sched_policy == ThreadState.Scheduling.deadlinePolicy else { return nil }
            (s.runtime, s.deadline, s.period) = (attr.sched_runtime, attr.sched_deadline, attr.sched_period)
            s.flags = attr.sched_flags & ThreadState.Scheduling.deadlineFlags
        }
        return s
    }

    /// Every resource limit, from /proc/PID/limits: prlimit64 would refuse
    /// another user's process to a root without CAP_SYS_RESOURCE, and the
    /// limits would be left out of the image without a word.
    static func rlimits(_ pid: pid_t) throws -> [ProcessState.ResourceLimit] {
        let path = "/proc/\(pid)/limits"
        do {
            return try ProcLimits.parse(try Sys.readText(path)).map { .init(resource: UInt32($0.resource), soft: $0.soft, hard: $0.hard) }
        } catch let e as ProcParseError {
            throw CheckpointError(EIO, "\(path): \(e)")
        }
    }
}
