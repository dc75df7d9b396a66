import ArgumentParser
import Checkpoint
import CheckpointImage
import Glibc

/// Writes one process of an image as an ELF core file, the way the kernel
/// dumps one: a PT_NOTE with NT_PRSTATUS (per thread, main thread first),
/// NT_PRPSINFO, NT_AUXV, NT_FILE, NT_FPREGSET and NT_X86_XSTATE, then a
/// PT_LOAD per mapping holding its memory: the image's saved pages, the
/// rest of file mappings from their files, zeros elsewhere (left as holes,
/// so the core is sparse). `gdb PROGRAM CORE` then shows threads, stacks
/// and memory as at the checkpoint.
struct CoreWriter {
    let process: ProcessState
    let pages: PageLookup

    static let pageSize: UInt64 = 4096

    func write(to path: String) throws {
        let out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw CheckpointError(errno: errno, "cannot create \(path)") }
        defer { close(out) }
        let loads = process.mappings.filter { $0.kind != .kernelFixed }
        let notes = self.notes()
        let headerBytes = 64 + 56 * UInt64(1 + loads.count)
        let notesAt = headerBytes
        var dataAt = (notesAt + UInt64(notes.count) + Self.pageSize - 1) & ~(Self.pageSize - 1)
        var elf = Self.elfHeader(phnum: 1 + loads.count)
        elf += Self.programHeader(type: 4, flags: 4, offset: notesAt, vaddr: 0, filesz: UInt64(notes.count), memsz: 0, align: 4)
        var placed: [(Mapping, UInt64, Bool)] = []
        for m in loads {
            // The vDSO's bytes where the image keeps them (gdb reads its symbols from the core).
            let withData = (m.kind != .vdso || !m.content.isEmpty) && m.protection & 1 != 0
            let flags = UInt32((m.protection & 1 != 0 ? 4 : 0) | (m.protection & 2 != 0 ? 2 : 0) | (m.protection & 4 != 0 ? 1 : 0))
            elf += Self.programHeader(type: 1, flags: flags, offset: withData ? dataAt : 0, vaddr: m.start,
                                      filesz: withData ? m.length : 0, memsz: m.length, align: Self.pageSize)
            placed.append((m, dataAt, withData))
            if withData { dataAt += m.length }
        }
        try pwriteAll(out, elf, at: 0)
        try pwriteAll(out, notes, at: notesAt)
        for (m, at, withData) in placed where withData { try writeMemory(m, out: out, at: at) }
        guard ftruncate(out, off_t(dataAt)) == 0 else { throw CheckpointError(errno: errno, "ftruncate \(path)") }
    }

    /// A mapping's pages: saved ones from the image, file-backed ones from the file, zeros as holes.
    func writeMemory(_ m: Mapping, out: Int32, at base: UInt64) throws {
        if m.kind == .vdso { return try pwriteAll(out, m.content, at: base) }
        let file: Int32 = (m.kind == .privateFile || m.kind == .sharedFile) ? (m.path.map { open($0, O_RDONLY | O_CLOEXEC) } ?? -1) : -1
        defer { if file >= 0 { close(file) } }
        var address = m.start
        var buffer = [UInt8](repeating: 0, count: Int(Self.pageSize))
        while address < m.end {
            var page: [UInt8]?
            do { page = try pages.page(pid: process.pid, address: address) } catch let e as ImageError {
                throw CheckpointError(EINVAL, "reading saved page 0x\(String(address, radix: 16)): \(e)")
            }
            if page == nil && file >= 0 {
                let n = buffer.withUnsafeMutableBytes { pread(file, $0.baseAddress, $0.count, off_t(m.offset + (address - m.start))) }
                if n > 0 {
                    for k in n..<buffer.count { buffer[k] = 0 }
                    page = buffer
                }
            }
            if let p = page, p.contains(where: { $0 != 0 }) { try pwriteAll(out, p, at: base + (address - m.start)) }
            address += Self.pageSize
        }
    }

    // MARK: notes

    func notes() -> [UInt8] {
        var out: [UInt8] = []
        let shared = process.sharedPending.reduce(UInt64(0)) { acc, info in
            let signo = Int(info[0])
            return signo > 0 && signo <= 64 ? acc | (1 << UInt64(signo - 1)) : acc
        }
        for (k, t) in process.threads.enumerated() {
            out += Self.note("CORE", 1, prstatus(t, pending: shared))
            if k == 0 {
                out += Self.note("CORE", 3, prpsinfo())
                out += Self.note("CORE", 6, process.auxv.flatMap { Self.le($0) } + Self.le(UInt64(0)) + Self.le(UInt64(0)))
                out += Self.note("CORE", 0x4649_4c45, fileNote())
            }
            if t.xsave.count >= 512 {
                out += Self.note("CORE", 2, Array(t.xsave[0..<512]))        // NT_PRFPREG: the fxsave part
                // NT_X86_XSTATE as long as the XCR0 in it says (gdb checks the size against it).
                let size = Self.xstateSize(t.xsave) ?? t.xsave.count
                out += Self.note("LINUX", 0x202, Array(t.xsave.prefix(size)) + [UInt8](repeating: 0, count: max(0, size - t.xsave.count)))
            }
        }
        return out
    }

    /// The standard-format XSAVE size for the XCR0 the kernel puts in the
    /// area's software-reserved bytes (offset 464): the end of the highest
    /// user feature it enables, as the kernel's own core note is long.
    static func xstateSize(_ xsave: [UInt8]) -> Int? {
        guard xsave.count >= 472 else { return nil }
        let xcr0 = xsave[464..<472].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard xcr0 & 3 == 3 else { return nil }
        // (feature bit, offset, size): AVX, MPX (2), AVX-512 (3), PKRU, AMX (2).
        let features: [(UInt64, Int, Int)] = [(2, 576, 256), (3, 960, 64), (4, 1024, 64), (5, 1088, 64), (6, 1152, 512),
                                              (7, 1664, 1024), (9, 2688, 8), (17, 2752, 64), (18, 2816, 8192)]
        return features.filter { xcr0 & (1 << $0.0) != 0 }.map { $0.1 + $0.2 }.max() ?? 576
    }

    /// struct elf_prstatus (336 bytes on x86_64).
    func prstatus(_ t: ThreadState, pending: UInt64) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 336)
        func put(_ bytes: [UInt8], _ at: Int) { for (k, x) in bytes.enumerated() { b[at + k] = x } }
        put(Self.le(UInt32(SIGSTOP)), 0)                 // si_signo: frozen by the checkpoint
        put(Self.le(UInt16(SIGSTOP)), 12)                // pr_cursig
        put(Self.le(pending), 16)                        // pr_sigpend
        put(Self.le(t.signalMask), 24)                   // pr_sighold
        put(Self.le(UInt32(bitPattern: t.tid)), 32)
        put(Self.le(UInt32(bitPattern: process.ppid)), 36)
        put(Self.le(UInt32(bitPattern: process.pgid)), 40)
        put(Self.le(UInt32(bitPattern: process.sid)), 44)
        put(t.registers.prefix(27).flatMap { Self.le($0) }, 112)  // pr_reg: user_regs_struct
        put(Self.le(UInt32(1)), 328)                     // pr_fpvalid
        return b
    }

    /// struct elf_prpsinfo (136 bytes).
    func prpsinfo() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 136)
        func put(_ bytes: [UInt8], _ at: Int) { for (k, x) in bytes.enumerated() { b[at + k] = x } }
        b[0] = process.stopped ? 4 : 1                   // pr_state
        b[1] = UInt8(ascii: process.stopped ? "T" : "S") // pr_sname
        put(Self.le(UInt32(truncatingIfNeeded: process.uids.first ?? 0)), 16)
        put(Self.le(UInt32(truncatingIfNeeded: process.gids.first ?? 0)), 20)
        put(Self.le(UInt32(bitPattern: process.pid)), 24)
        put(Self.le(UInt32(bitPattern: process.ppid)), 28)
        put(Self.le(UInt32(bitPattern: process.pgid)), 32)
        put(Self.le(UInt32(bitPattern: process.sid)), 36)
        put(Array(process.command.utf8.prefix(15)), 40)  // pr_fname
        put(Array(process.executable.utf8.prefix(79)), 56)  // pr_psargs
        return b
    }

    /// NT_FILE: count, page size, (start, end, offset in pages) per file mapping, then the paths.
    func fileNote() -> [UInt8] {
        let files = process.mappings.filter { ($0.kind == .privateFile || $0.kind == .sharedFile) && $0.path != nil }
        var b = Self.le(UInt64(files.count)) + Self.le(Self.pageSize)
        for m in files { b += Self.le(m.start) + Self.le(m.end) + Self.le(m.offset / Self.pageSize) }
        for m in files { b += Array((m.path ?? "").utf8) + [0] }
        return b
    }

    static func note(_ name: String, _ type: UInt32, _ desc: [UInt8]) -> [UInt8] {
        let n = Array(name.utf8) + [0]
        var b = le(UInt32(n.count)) + le(UInt32(desc.count)) + le(type) + n
        while b.count % 4 != 0 { b.append(0) }
        b += desc
        while b.count % 4 != 0 { b.append(0) }
        return b
    }

    static func elfHeader(phnum: Int) -> [UInt8] {
        var b: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        b += le(UInt16(4)) + le(UInt16(62)) + le(UInt32(1))          // ET_CORE, EM_X86_64, EV_CURRENT
        b += le(UInt64(0)) + le(UInt64(64)) + le(UInt64(0))          // entry, phoff, shoff
        b += le(UInt32(0)) + le(UInt16(64)) + le(UInt16(56))          // flags, ehsize, phentsize
        b += le(UInt16(min(phnum, 0xffff))) + le(UInt16(64)) + le(UInt16(0)) + le(UInt16(0))
        return b
    }

    static func programHeader(type: UInt32, flags: UInt32, offset: UInt64, vaddr: UInt64, filesz: UInt64, memsz: UInt64, align: UInt64) -> [UInt8] {
        le(type) + le(flags) + le(offset) + le(vaddr) + le(UInt64(0)) + le(filesz) + le(memsz) + le(align)
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: UInt64) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { b -> Int in
                guard let base = b.baseAddress else { return -1 }
                return pwrite(fd, base + done, bytes.count - done, off_t(offset) + off_t(done))
            }
            guard n > 0 else { throw CheckpointError(errno: errno, "writing the core") }
            done += n
        }
    }
}

/// `swiftcr core FILE -o CORE [--pid PID]`.
struct CoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "core", abstract: "Export a process of an image as an ELF core file for gdb.")
    @Option(name: [.customShort("o"), .long], help: "The core file to write.") var output: String
    @Option(help: "The process (default: the first in the image).") var pid: Int32?
    @Argument(help: "The image.") var file: String

    func run() throws {
        let opened = try DiffCommand.open(file)
        defer { close(opened.fd) }
        guard let process = pid.flatMap({ p in opened.image.processes.first { $0.pid == p } }) ?? (pid == nil ? opened.image.processes.first : nil) else {
            throw CheckpointError(ESRCH, "\(file) holds no process \(pid ?? 0)")
        }
        try CoreWriter(process: process, pages: PageLookup(index: opened.index, fd: opened.fd)).write(to: output)
    }
}
