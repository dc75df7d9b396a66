import CLinux
import CheckpointImage
import Glibc
import LinuxKit
import Logging

public struct RestoreOptions: Sendable {
    /// Give the process its original PID (BLCR's default; needs root here).
    public var restorePID = true
    public init() {}
}

public struct RestoredProcess: Sendable {
    public var pid: pid_t
    public var originalPID: pid_t
    public var command: String
    public var warnings: [String]
    public var seconds: Double
}

/// Restarts a process from an image by system calls injected into a stub:
/// the stages below run in order, each documented with what it leaves behind.
public enum Restorer {
    public static func restore(from fd: Int32, options: RestoreOptions, log: Logger) throws -> RestoredProcess {
        let started = Clock.now
        let reader: ImageReader
        do { reader = try ImageReader(fd: fd) } catch let e as ImageError { throw CheckpointError(EINVAL, "\(e)") }
        let (inventory, process) = try readHeader(reader)
        try checkCompatible(inventory, process)

        var pin = CPUPin()
        pin.pinCurrentCPU()
        let stub = try Stub.spawn(pid: options.restorePID ? process.pid : nil)
        defer { pin.release([stub]) }
        do {
            try Stub.capture(stub)
            let warnings = try build(stub: stub, reader: reader, inventory: inventory, process: process,
                                     exactIDs: options.restorePID, pin: pin, log: log)
            return RestoredProcess(pid: stub, originalPID: process.pid, command: process.command, warnings: warnings,
                                   seconds: Clock.now - started)
        } catch {
            Stub.destroy(stub)
            if let e = error as? SystemCallError { throw CheckpointError(e.errno.rawValue, "restart failed: \(e)") }
            if let e = error as? ImageError { throw CheckpointError(EINVAL, "restart failed: \(e)") }
            throw error
        }
    }

    static func readHeader(_ reader: ImageReader) throws -> (Inventory, ProcessState) {
        do {
            guard case .inventory(let inv)? = try reader.next() else {
                throw CheckpointError(EINVAL, "image does not start with an INVENTORY section")
            }
            guard case .process(let p)? = try reader.next() else {
                throw CheckpointError(EINVAL, "image has no PROCESS section after its inventory")
            }
            return (inv, p)
        } catch let e as ImageError {
            throw CheckpointError(EINVAL, "\(e)")
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
        for m in p.mappings where m.kind == .privateFile || m.kind == .sharedFile {
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

    /// Stages, all run in the stopped stub:
    /// 1. trampoline + scratch at an address free in both; 2. stub memory dropped,
    /// vDSO moved; 3. image mappings created; 4. pages written as PAGES sections
    /// stream in; 5. protections and mm fields; 6. files, environment, signals,
    /// credentials; 7. trampoline unmapped from its own syscall-exit stop, final
    /// registers, FPU state and signal mask set, detach.
    static func build(stub: pid_t, reader: ImageReader, inventory: Inventory, process: ProcessState,
                      exactIDs: Bool, pin: CPUPin, log: Logger) throws -> [String] {
        guard let thread = process.threads.first else { throw CheckpointError(EINVAL, "image process has no thread") }
        let regs0 = try Ptrace.registers(stub)
        let stubMaps = try ProcMaps.parse(try Sys.readText("/proc/\(stub)/maps"))
        let instruction = try SyscallInjector.findInstruction(pid: stub, registers: regs0, maps: stubMaps)
        let injector = SyscallInjector(tid: stub, instruction: instruction, template: regs0)
        let session = RemoteSession(pid: stub, injector: injector)

        let missing = inventory.xfeatures & ~MachineInfo.xfeatures
        guard missing == 0 else {
            throw CheckpointError(BLCRCode.badArch, "image uses CPU state components 0x\(String(missing, radix: 16)) this CPU does not enable (image XCR0 0x\(String(inventory.xfeatures, radix: 16)), here 0x\(String(MachineInfo.xfeatures, radix: 16)))")
        }
        let xsaveHere = try Ptrace.extendedState(stub)
        guard xsaveHere.count == thread.xsave.count else {
            throw CheckpointError(BLCRCode.badArch, "image FPU state is \(thread.xsave.count) bytes (XCR0 0x\(String(inventory.xfeatures, radix: 16))), this CPU uses \(xsaveHere.count)")
        }

        var space = AddressSpaceRestorer(session: session, process: process, log: log)
        try space.installTrampoline(stubMaps: stubMaps)
        try space.clearStub(stubMaps: stubMaps)
        try space.placeVDSO(stubMaps: stubMaps, imageKernel: inventory.kernelRelease)
        try space.createMappings()
        try writePages(reader: reader, space: space, memory: session.memory, pid: process.pid)
        try space.finishMappings()
        testHookPause()

        var warnings = try FileRestorer(session: session, process: process, log: log).restore()
        let task = TaskRestorer(session: session, process: process, thread: thread, log: log)
        warnings += try task.restoreEnvironment()
        try task.restoreSignals(pid: stub)
        var threads: [(tid: pid_t, state: ThreadState, session: RemoteSession)] = [(stub, thread, session)]
        for t in process.threads.dropFirst() {
            let s = try ThreadCreator.create(t, from: session, exactTID: exactIDs)
            threads.append((s.pid, t, s))
        }
        for t in threads { try TaskRestorer.restoreThread(t.state, in: t.session, pid: stub, tid: t.tid) }
        try task.restoreCredentials()

        // The trampoline unmaps itself; we are then at its syscall-exit stop, never back in it.
        _ = try injector.raw(NR.munmap, space.trampoline, space.trampolineSize)
        let handlers = Dictionary(uniqueKeysWithValues: process.signalActions.map { ($0.signal, (handler: $0.handler, flags: $0.flags)) })
        for t in threads {
            // What is pending now: the image's signals re-queued plus any sent during the restore.
            let status = try ProcStatus.read(pid: t.tid)
            let pendingBits = (status.signalSet("SigPnd") ?? 0) | (status.signalSet("ShdPnd") ?? 0)
            let interrupting = SyscallRestart.interruptingHandler(pending: pendingBits, blocked: t.state.signalMask, actions: handlers)
            let finalRegs = SyscallRestart.resume(ProcessCollector.registers(from: t.state.registers),
                                                  interruptingHandler: interrupting, canRestartBlock: false)
            try Ptrace.setRegisters(t.tid, finalRegs)
            try Ptrace.setExtendedState(t.tid, t.state.xsave)
            try Ptrace.setSignalMask(t.tid, t.state.signalMask)
        }
        pin.release(threads.map(\.tid))
        for t in threads.reversed() { try Ptrace.detach(t.tid) }
        for sig in threads.flatMap({ $0.session.injector.heldSignals }) { kill(stub, sig) }
        if process.stopped { kill(stub, SIGSTOP) }
        return warnings
    }

    /// Streams PAGES sections into the stub until the END section.
    static func writePages(reader: ImageReader, space: AddressSpaceRestorer, memory: RemoteMemory, pid: pid_t) throws {
        do {
            while let section = try reader.next() {
                switch section {
                case .pages(let p):
                    guard p.pid == pid else { throw CheckpointError(EINVAL, "PAGES section for PID \(p.pid), image process is \(pid)") }
                    for run in p.runs { try space.validate(run) }
                    try memory.write(ranges: p.runs.map { ($0.address, Int($0.byteCount)) }, from: p.data)
                case .end:
                    return
                case .index, .inventory, .process:
                    continue
                }
            }
        } catch let e as ImageError {
            throw CheckpointError(EINVAL, "\(e)")
        }
    }
}

/// Test hook: SWIFTCR_TEST_RESTORE_PAUSE_MS holds a restore half way (memory
/// back, nothing else), announced on stderr, so a test can signal the process
/// in the middle of its restore.
func testHookPause() {
    guard let value = getenv("SWIFTCR_TEST_RESTORE_PAUSE_MS"), let ms = UInt32(String(cString: value)) else { return }
    let line = "swiftcr: test hook: restore paused\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    usleep(ms * 1000)
}
