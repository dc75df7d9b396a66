import CLinux
import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Gathers everything about one frozen, single-threaded process except page contents.
struct ProcessCollector {
    let frozen: FrozenProcess
    let log: Logger

    struct Collected {
        var state: ProcessState
        var maps: [(MapsEntry, Mapping.Kind)]
        var warnings: [String]
    }

    func collect() throws -> Collected {
        let pid = frozen.pid
        let stat = try ProcStat.read(pid: pid)
        let status = try ProcStatus.read(pid: pid)
        let maps = try ProcMaps.parseSmaps(try Sys.readText("/proc/\(pid)/smaps"), file: "/proc/\(pid)/smaps")
        guard let tid = frozen.threads.first, let regs = frozen.originalRegisters[tid] else {
            throw CheckpointError(ESRCH, "process \(pid) has no threads left")
        }

        // Thread state the kernel hands to a tracer directly.
        let xsave = try Ptrace.extendedState(tid)
        let pending = try Ptrace.pendingSignals(tid, shared: false).map { bytes(of: $0) }
        let sharedPending = try Ptrace.pendingSignals(tid, shared: true).map { bytes(of: $0) }
        let rseqConf = try Ptrace.rseqConfiguration(tid)

        // State only the process can tell: inject system calls with all signals blocked.
        let instruction = try SyscallInjector.findInstruction(pid: tid, registers: regs, maps: maps)
        let injector = SyscallInjector(tid: tid, instruction: instruction, template: regs)
        frozen.modified.insert(tid)
        try Ptrace.setSignalMask(tid, ~UInt64(0))
        let task = try TaskStateCollector.collect(RemoteSession(pid: tid, injector: injector))
        frozen.heldSignals += injector.heldSignals
        let handlers = Dictionary(uniqueKeysWithValues: task.actions.map { ($0.signal, (handler: $0.handler, flags: $0.flags)) })
        frozen.pendingHandlerCheck = { t in
            let st = try? ProcStatus.read(pid: t)
            let pendingNow = (st?.signalSet("SigPnd") ?? 0) | (st?.signalSet("ShdPnd") ?? 0)
            return SyscallRestart.interruptingHandler(pending: pendingNow, blocked: frozen.originalMasks[t] ?? 0, actions: handlers)
        }

        var mm = ProcessState.MemoryLayoutFields()
        mm.startCode = stat.startCode; mm.endCode = stat.endCode
        mm.startData = stat.startData; mm.endData = stat.endData
        mm.startBrk = stat.startBrk; mm.brk = task.brk; mm.startStack = stat.startStack
        mm.argStart = stat.argStart; mm.argEnd = stat.argEnd; mm.envStart = stat.envStart; mm.envEnd = stat.envEnd
        let auxv = Auxv.parse(try Sys.readFile("/proc/\(pid)/auxv")).flatMap { [$0.type, $0.value] }

        let (files, fileWarnings) = try FileCollector(pid: pid, log: log).collect()
        let classified = maps.map { ($0, MappingClassifier.kind(of: $0)) }
        var mappings: [Mapping] = []
        var warnings = fileWarnings
        for (m, kind) in classified {
            mappings.append(try describe(m, kind: kind, warnings: &warnings))
        }
        let finalKinds = zip(classified, mappings).map { ($0.0.0, $0.1.kind) }

        let thread = ThreadState(
            tid: tid, registers: Self.registerArray(regs), xsave: xsave,
            signalMask: frozen.originalMasks[tid] ?? 0, pendingSignals: pending, altStack: task.altStack,
            rseq: rseqConf.rseq_abi_pointer == 0 ? nil : .init(address: rseqConf.rseq_abi_pointer, size: rseqConf.rseq_abi_size, signature: rseqConf.signature),
            tidAddress: task.tidAddress)
        let state = ProcessState(
            pid: pid, ppid: stat.ppid, pgid: stat.pgrp, sid: stat.session, command: stat.comm,
            executable: (try? String(decoding: Sys.readLink("/proc/\(pid)/exe"), as: UTF8.self)) ?? "",
            uids: status.ids("Uid").map(UInt64.init), gids: status.ids("Gid").map(UInt64.init),
            groups: status.ids("Groups").map(UInt64.init), umask: status.umask ?? 0o022,
            cwd: String(decoding: try Sys.readLink("/proc/\(pid)/cwd"), as: UTF8.self),
            root: String(decoding: try Sys.readLink("/proc/\(pid)/root"), as: UTF8.self),
            personality: task.personality, rlimits: try Self.rlimits(pid), mm: mm, auxv: auxv,
            signalActions: task.actions, sharedPending: sharedPending, threads: [thread],
            mappings: mappings, files: files, dumpable: task.dumpable, parentDeathSignal: task.parentDeathSignal)
        return Collected(state: state, maps: finalKinds, warnings: warnings)
    }

    /// The image's record of one mapping; a private file that is gone or was
    /// replaced is kept whole as anonymous memory instead.
    func describe(_ m: MapsEntry, kind: Mapping.Kind, warnings: inout [String]) throws -> Mapping {
        var kind = kind
        var size: UInt64 = 0, mtime: UInt64 = 0, checksum: UInt32 = 0
        if kind == .privateFile || kind == .sharedFile, let path = m.path {
            var st = stat()
            let dev = UInt64(Device.make(major: m.deviceMajor, minor: m.deviceMinor))
            if stat(path, &st) == 0 && UInt64(st.st_ino) == m.inode && UInt64(st.st_dev) == dev {
                size = UInt64(st.st_size)
                mtime = UInt64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ UInt64(st.st_mtim.tv_nsec)
            } else if kind == .privateFile {
                kind = .anonymous
            } else {
                throw CheckpointError(ENOENT, "shared mapping of \(path) at 0x\(String(m.start, radix: 16)): the file is no longer there")
            }
        }
        if m.path == "[vdso]" {
            checksum = CRC32C.checksum(try RemoteMemory(pid: frozen.pid).read(address: m.start, count: Int(m.length)))
        }
        var mapping = Mapping(start: m.start, end: m.end, protection: MappingClassifier.protection(m), shared: m.shared,
                              growsDown: m.vmFlags.contains("gd"), kind: kind, path: m.path, offset: m.offset,
                              device: Device.make(major: m.deviceMajor, minor: m.deviceMinor), inode: m.inode,
                              fileSize: size, fileMtimeNanos: mtime, contentChecksum: checksum)
        mapping.advice = MappingClassifier.advice(m)
        return mapping
    }

    static func rlimits(_ pid: pid_t) throws -> [ProcessState.ResourceLimit] {
        var out: [ProcessState.ResourceLimit] = []
        for resource in 0..<16 {
            var old = rlimit()
            let r = withUnsafeMutablePointer(to: &old) { p in
                try? rawSyscall("prlimit64", NR.prlimit64, Int(pid), resource, 0, Int(bitPattern: p))
            }
            if r != nil { out.append(.init(resource: UInt32(resource), soft: UInt64(old.rlim_cur), hard: UInt64(old.rlim_max))) }
        }
        return out
    }

    static func registerArray(_ r: Registers) -> [UInt64] {
        withUnsafeBytes(of: r) { raw in (0..<27).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) } }
    }

    static func registers(from a: [UInt64]) -> Registers {
        var r = Registers()
        withUnsafeMutableBytes(of: &r) { raw in
            for i in 0..<min(27, a.count) { raw.storeBytes(of: a[i], toByteOffset: i * 8, as: UInt64.self) }
        }
        return r
    }
}
