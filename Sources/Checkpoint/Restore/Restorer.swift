import CLinux
import CheckpointImage
import Glibc
import LinuxKit
import Logging

public struct RestoreOptions: Sendable {
    /// Give processes and threads their original IDs (BLCR's default; needs root here).
    public var restorePID = true
    /// BLCR's --restore-pgid and --restore-sid (both off by default: the
    /// restored processes join cr_restart's process group and session).
    public var restorePGID = false
    public var restoreSID = false
    /// When the original PIDs are wanted but this user may not choose PIDs,
    /// restore inside a new user+PID namespace (otherwise: fail with EPERM).
    public var allowNamespace = true
    /// --relocate: paths of the image moved elsewhere.
    public var relocation = PathRelocation()
    /// --tcp-close: established TCP connections come back as closed sockets
    /// (the descriptor stays valid) instead of being repaired or dropped.
    public var closeTCP = false
    /// The image's path, told to libcr (cr_get_restart_info).
    public var sourcePath = ""
    /// BLCR's --omit-*: processes omitted at checkpoint time are noted, passed over, or refused.
    public enum Omitted: Sendable { case note, quiet, refuse }
    public var omitted = Omitted.note
    public init() {}
}

public struct RestoredProcess: Sendable {
    /// The eldest restored process: the one cr_restart waits for.
    public var pid: pid_t
    public var originalPID: pid_t
    public var command: String
    /// Original PID -> new PID of every restored process.
    public var pids: [pid_t: pid_t]
    public var warnings: [String]
    /// What the restorer decided on the user's behalf (e.g. a PID namespace).
    public var notes: [String] = []
    public var seconds: Double
}

/// Restarts a process tree from an image by system calls injected into stubs.
/// Stages: read every PROCESS/ZOMBIE record; fork the stub tree (IDs,
/// sessions, groups, zombies); per process prepare the address space; stream
/// the PAGES into their stubs; per process finish (files, signals, threads,
/// credentials, registers); detach everything.
public enum Restorer {
    public static func restore(from fd: Int32, options: RestoreOptions, log: Logger) throws -> RestoredProcess {
        let started = Clock.now
        let reader: ImageReader
        do { reader = try ImageReader(fd: fd) } catch let e as ImageError { throw CheckpointError(e.errnoCode, "\(e)") }
        var header = try readHeader(reader)
        // Also for a stream, which swiftcr verify cannot check ahead: nothing below may meet a duplicate.
        if let bad = ImageVerifier.recordProblems(processes: header.processes, zombies: header.zombies).first {
            throw CheckpointError(EINVAL, "the image is not sound: \(bad)")
        }
        header.processes = header.processes.map(options.relocation.apply(to:))
        var notes: [String] = []
        let omittedPIDs = header.processes.first?.omittedPIDs ?? []
        if !omittedPIDs.isEmpty {
            let list = omittedPIDs.map(String.init).joined(separator: ", ")
            switch options.omitted {
            case .refuse: throw CheckpointError(BLCRCode.restartAborted, "processes \(list) were omitted from this image at checkpoint time (--omit-never)")
            case .note: notes.append("processes \(list) were omitted at checkpoint time and are not restarted")
            case .quiet: break
            }
        }
        for p in header.processes { try checkCompatible(header.inventory, p) }
        if options.restorePID && PIDNamespace.canChoosePIDs {
            let waited = ExitingHolders.wait(for: header.processes.flatMap { p in [p.pid] + p.threads.map(\.tid) } + header.zombies.map(\.pid))
            if waited > 0 { log.info("waited \(Int(waited * 1000)) ms for the original's unreaped zombies to free their PIDs") }
        }
        if options.restorePID && options.allowNamespace && !PIDNamespace.canChoosePIDs {
            try PIDNamespace.enter()
            notes.append("uid \(getuid()) may not choose PIDs here: restarting in a new user and PID namespace, where the processes keep their original PIDs")
        }

        var pin = CPUPin()
        pin.pinCurrentCPU()
        var tree = StubTree(options: options, log: log)
        defer { pin.release(Array(tree.stubs.values)) }
        do {
            try tree.build(header.processes, zombies: header.zombies)
            let shared = SharedMemoryFactory(processes: header.processes)
            defer { shared.close() }
            let sysv = SysVFactory(objects: header.processes.flatMap(\.sysvObjects), log: log)
            var restores: [ProcessRestore] = []
            for p in header.processes {
                guard let stub = tree.stubs[p.pid], let inner = tree.inner[p.pid] else { continue }
                let r = try ProcessRestore(stub: stub, innerPID: inner, process: p, inventory: header.inventory, log: log)
                try r.prepare(shared: shared, sysv: sysv)
                restores.append(r)
            }
            try PageStream.write(reader: reader, first: header.firstPages, into: restores)
            testHookPause()
            var warnings = tree.warnings
            let objects = SharedFileObjects(processes: header.processes, memory: shared, stubs: tree.stubs, closeTCP: options.closeTCP)
            defer { objects.close() }
            for r in restores {
                warnings += try r.finish(exactIDs: options.restorePID, quietChildSignal: tree.reapedSignals[r.process.pid] ?? false, objects: objects)
            }
            warnings += shared.seal()
            warnings += try sysv.finish()
            // libcr agents wait in cr_checkpoint() for their outcome: "restarted", by us.
            for r in restores where r.process.agentResultFD >= 0 {
                if !AgentRendezvous.deliver(kind: 2, value: getpid(), source: options.sourcePath, to: "/proc/\(r.stub)/fd/\(r.process.agentResultFD)") {
                    warnings.append("process \(r.process.pid): its libcr agent could not be told about the restart")
                }
            }
            for r in restores { pin.release(r.threadIDs) }
            // Children first, so a parent never runs while a child is still being set up.
            for r in restores.reversed() { try r.detach() }
            guard let eldest = header.processes.first, let pid = tree.stubs[eldest.pid] else {
                throw CheckpointError(EINVAL, "image holds no process")
            }
            return RestoredProcess(pid: pid, originalPID: eldest.pid, command: eldest.command, pids: tree.stubs,
                                   warnings: warnings, notes: notes, seconds: Clock.now - started)
        } catch {
            tree.destroyAll()
            if let e = error as? SystemCallError { throw CheckpointError(e.errno.rawValue, "restart failed: \(e)") }
            if let e = error as? ImageError { throw CheckpointError(e.errnoCode, "restart failed: \(e)") }
            throw error
        }
    }

    struct Header {
        var inventory: Inventory
        var processes: [ProcessState] = []
        var zombies: [ZombieState] = []
        /// The first PAGES section, already read (its data lives in the reader's buffer).
        var firstPages: ImageReader.PagesSection?
    }

    /// INVENTORY, then every PROCESS and ZOMBIE record up to the first PAGES section.
    static func readHeader(_ reader: ImageReader) throws -> Header {
        do {
            guard case .inventory(let inv)? = try reader.next() else {
                throw CheckpointError(EINVAL, "image does not start with an INVENTORY section")
            }
            var h = Header(inventory: inv)
            scan: while let section = try reader.next() {
                switch section {
                case .process(let p): h.processes.append(p)
                case .zombie(let z): h.zombies.append(z)
                case .pages(let p): h.firstPages = p; break scan
                case .index, .end, .inventory: break scan
                }
            }
            guard !h.processes.isEmpty else { throw CheckpointError(EINVAL, "image has no PROCESS section after its inventory") }
            let pids = h.processes.map(\.pid) + h.zombies.map(\.pid)
            guard Set(pids).count == pids.count else { throw CheckpointError(EINVAL, "image lists a process ID twice") }
            return h
        } catch let e as ImageError {
            throw CheckpointError(e.errnoCode, "\(e)")
        }
    }

    static func checkCompatible(_ inv: Inventory, _ p: ProcessState) throws {
        guard inv.machine == MachineInfo.machine else {
            throw CheckpointError(BLCRCode.badArch, "image is for \(inv.machine), this machine is \(MachineInfo.machine)")
        }
        guard p.threads.first?.tid == p.pid else {
            throw CheckpointError(EINVAL, "image process \(p.pid) does not list its main thread first")
        }
        if getuid() != 0, let uid = p.uids.first, uid != UInt64(getuid()) {
            throw CheckpointError(EPERM, "image belongs to uid \(uid); uid \(getuid()) may not restore it")
        }
        // Mappings saved whole come back from the image whatever became of their file.
        for m in p.mappings where (m.kind == .privateFile || m.kind == .sharedFile) && !m.savedWhole {
            guard let path = m.path else { continue }
            var st = stat()
            guard stat(path, &st) == 0 else {
                throw CheckpointError(ENOENT, "\(path), mapped at 0x\(String(m.start, radix: 16)), is missing: \(String(cString: strerror(errno)))")
            }
            let mtime = UInt64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ UInt64(st.st_mtim.tv_nsec)
            if UInt64(st.st_size) != m.fileSize || mtime != m.fileMtimeNanos {
                throw CheckpointError(ESTALE, "\(path) changed since the checkpoint (size \(m.fileSize) -> \(st.st_size)); its mapping at 0x\(String(m.start, radix: 16)) cannot be restored")
            }
        }
    }
}
