import Glibc
import LinuxKit

/// Probes the kernel features the engine needs, as this user, on a real
/// traced child (like `criu check`). Nothing is assumed from the version.
public enum KernelProbe {
    public struct Result: Sendable {
        public var name: String
        public var ok: Bool
        /// Needed for checkpoint/restart at all (as opposed to an option such as exact PIDs).
        public var required: Bool
        public var detail: String
    }

    /// PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_GET (Linux 6.17+).
    static func prctlProbe() -> Int {
        let r = Syscall.prctl(.timerCreateRestoreIds, 2)
        return r < 0 ? -Int(errno) : r
    }

    public static func run() -> [Result] {
        var results: [Result] = []
        func add(_ name: String, required: Bool = true, _ body: () throws -> String) {
            do { results.append(Result(name: name, ok: true, required: required, detail: try body())) } catch {
                results.append(Result(name: name, ok: false, required: required, detail: "\(error)"))
            }
        }
        var stub: pid_t = 0
        add("ptrace seize/interrupt") {
            stub = try Stub.spawn(pid: nil)
            try Stub.capture(stub)
            _ = try Ptrace.registers(stub)
            return "stopped a child and read its registers"
        }
        guard stub > 0, results.last?.ok == true else {
            if stub > 0 { Stub.destroy(stub) }
            return results
        }
        defer { Stub.destroy(stub) }
        add("xsave regset (FPU/SSE/AVX)") {
            let area = try Ptrace.extendedState(stub)
            return "\(area.count) bytes, XCR0 0x\(String(MachineInfo.xfeatures, radix: 16)), in use 0x\(String(MachineInfo.componentsInUse(area), radix: 16))"
        }
        add("process_vm_readv") {
            let regs = try Ptrace.registers(stub)
            _ = try RemoteMemory(pid: stub).read(address: regs.rsp, count: 64)
            return "read the child's stack"
        }
        var session: RemoteSession?
        add("syscall injection") {
            let regs = try Ptrace.registers(stub)
            let maps = try ProcMaps.parse(try Sys.readText("/proc/\(stub)/maps"))
            let injector = SyscallInjector(tid: stub, instruction: try SyscallInjector.findInstruction(pid: stub, registers: regs, maps: maps), template: regs)
            let got = try injector.call("getpid", NR.getpid)
            guard got == UInt64(stub) else { throw CheckpointError(EIO, "getpid in the child returned \(got)") }
            let s = RemoteSession(pid: stub, injector: injector)
            s.scratch = try s.mmap(0, 8192, protection: UInt64(PROT_READ | PROT_WRITE), flags: UInt64(MAP_PRIVATE | MAP_ANONYMOUS), what: "")
            s.scratchSize = 8192
            session = s
            return "getpid and mmap ran inside the child"
        }
        add("PR_SET_MM_MAP") {
            guard let s = session else { throw CheckpointError(ENOSYS, "needs syscall injection") }
            let st = try ProcStat.read(pid: stub)
            let brk = try s.call("brk", NR.brk, 0)
            var map = MMMap()
            map.start_code = st.startCode; map.end_code = st.endCode; map.start_data = st.startData; map.end_data = st.endData
            map.start_brk = st.startBrk; map.brk = brk; map.start_stack = st.startStack
            map.arg_start = st.argStart; map.arg_end = st.argEnd; map.env_start = st.envStart; map.env_end = st.envEnd
            map.exe_fd = UInt32.max
            let at = try s.put(value: map)
            try s.prctl(.setMm, Prctl.mmMap, at, UInt64(MemoryLayout<MMMap>.size))
            return "set the child's mm fields"
        }
        add("rseq configuration") {
            let c = try Ptrace.rseqConfiguration(stub)
            return c.rseq_abi_pointer == 0 ? "readable (no rseq registered)" : "glibc rseq area at 0x\(String(c.rseq_abi_pointer, radix: 16)), \(c.rseq_abi_size) bytes"
        }
        add("pagemap") {
            let pm = try Pagemap(pid: stub)
            defer { pm.close() }
            let regs = try Ptrace.registers(stub)
            let page = regs.rsp & ~4095
            let e = try pm.entries(start: page, end: page + 4096)
            guard let first = e.first, first & Pagemap.present != 0 else { throw CheckpointError(EIO, "stack page not reported present") }
            return "present bits visible"
        }
        add("vDSO layout") {
            let maps = try ProcMaps.parse(try Sys.readText("/proc/\(stub)/maps"))
            let areas = maps.filter { ["[vvar]", "[vvar_vclock]", "[vdso]"].contains($0.path ?? "") }
            guard areas.contains(where: { $0.path == "[vdso]" }) else { throw CheckpointError(ENOENT, "no [vdso]") }
            return areas.map { "\($0.path ?? "") \($0.length / 4096)p" }.joined(separator: ", ")
        }
        add("clone3 set_tid (exact PIDs)", required: false) {
            let wanted = freePID()
            let p = try Stub.spawn(pid: wanted)
            Stub.destroy(p)
            return "created a process with PID \(wanted)"
        }
        add("user + PID namespaces", required: false) {
            let code = try childExitCode { Syscall.raw(NR.unshare, Int(CloneFlags.newUser | CloneFlags.newPID)) == 0 ? 0 : Int(errno) }
            guard code == 0 else { throw CheckpointError(errno: code, "unshare(CLONE_NEWUSER|CLONE_NEWPID)") }
            return "unshare works for this user"
        }
        add("mount namespaces (unshare -m trees)", required: false) {
            // Directly (root), or inside a user namespace as a user's restart makes one.
            if try childExitCode({ Syscall.raw(NR.unshare, Int(CloneFlags.newMount)) == 0 ? 0 : Int(errno) }) == 0 { return "made directly" }
            let code = try childExitCode { Syscall.raw(NR.unshare, Int(CloneFlags.newUser | CloneFlags.newMount)) == 0 ? 0 : Int(errno) }
            guard code == 0 else { throw CheckpointError(errno: code, "unshare(CLONE_NEWNS), also in a user namespace") }
            return "made in a user namespace of the restart's (not with --no-restore-pid)"
        }
        add("sock_diag + pidfd_getfd (sockets)", required: false) {
            let count = try UnixSocketDiag.all().count
            var pair: [Int32] = [0, 0]
            _ = try valueOrThrow("socketpair") { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) }
            defer { close(pair[0]); close(pair[1]) }
            let pidfd = Int32(try rawSyscall("pidfd_open", NR.pidfd_open, Int(getpid()), 0))
            defer { close(pidfd) }
            close(Int32(try rawSyscall("pidfd_getfd", NR.pidfd_getfd, Int(pidfd), Int(pair[0]), 0)))
            return "\(count) UNIX sockets listed"
        }
        add("TCP_REPAIR (established TCP connections)", required: false) {
            let fd = try valueOrThrow("socket") { socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0) }
            defer { close(fd) }
            guard TCPRepair.set(fd, TCPRepair.repair, 1) else { throw CheckpointError(errno: errno, "needs CAP_NET_ADMIN") }
            return "available to this user"
        }
        add("POSIX timer IDs (PR_TIMER_CREATE_RESTORE_IDS)", required: false) {
            let r = prctlProbe()
            guard r >= 0 else { throw CheckpointError(-Int32(r), "timers come back with new IDs") }
            return "available"
        }
        add("PAGEMAP_SCAN (written-page tracking)", required: false) {
            if case .failure(let e) = Pagemap.scanAvailable() { throw CheckpointError(e.rawValue, "ioctl(PAGEMAP_SCAN): \(e)") }
            return "available"
        }
        add("userfaultfd async write protection (--pre-dump, --parent)", required: false) {
            if case .failure(let e) = Userfaultfd.asyncWriteProtectAvailable() {
                throw CheckpointError(e.rawValue, "userfaultfd with UFFD_FEATURE_WP_ASYNC: \(e)")
            }
            return "available"
        }
        return results
    }

    /// What `swiftcr check` says of written-page tracking, in one line.
    public static func writeTrackingSummary() -> String {
        let scan: String
        switch Pagemap.scanAvailable() { case .success: scan = "available"; case .failure(let e): scan = "\(e)" }
        let wp: String
        switch Userfaultfd.asyncWriteProtectAvailable() { case .success: wp = "available"; case .failure(let e): wp = "\(e)" }
        return "swiftcr check: PAGEMAP_SCAN \(scan), userfaultfd async write protection \(wp)"
    }

    /// A PID a few hundred above the last one handed out, not in use now.
    static func freePID() -> pid_t {
        let last = (try? Sys.readText("/proc/sys/kernel/ns_last_pid")).flatMap { Int32($0.trimmingSpaces) } ?? 1000
        let max = (try? Sys.readText("/proc/sys/kernel/pid_max")).flatMap { Int32($0.trimmingSpaces) } ?? 32768
        var candidate = last + 500
        while candidate < max - 1 && access("/proc/\(candidate)", F_OK) == 0 { candidate += 1 }
        return candidate < max ? candidate : 300
    }

    /// Runs `body` in a raw clone3 child (system calls only) and returns its exit code.
    static func childExitCode(_ body: () -> Int) throws -> Int32 {
        let pid: pid_t
        switch RawChild.spawn({ Syscall.exitGroup(body()) }) {
        case .success(let p): pid = p
        case .failure(let e): throw CheckpointError(e.rawValue, "clone3: \(e)")
        }
        var status: Int32 = 0
        while waitpid(pid_t(pid), &status, 0) < 0 && errno == EINTR {}
        return (status >> 8) & 0xff
    }
}

extension StringProtocol {
    var trimmingSpaces: String { String(self.filter { !$0.isWhitespace }) }
}
