import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Replaces the stub's memory with the image's: a trampoline page free in both,
/// everything else unmapped, the vDSO moved to the image's address, then every
/// mapping recreated and filled.
struct AddressSpaceRestorer {
    let session: RemoteSession
    let process: ProcessState
    let log: Logger
    static let scratchPages = 16

    var trampoline: UInt64 = 0
    var trampolineSize: UInt64 { UInt64(1 + Self.scratchPages) * 4096 }

    /// Areas of the image that receive page data (writable until filled),
    /// by address: every page run is checked against them.
    let fillable: [Mapping]
    /// Pages still shared with the parent: the stub was forked from the
    /// restored parent and keeps them as the fork left them (sorted ranges).
    let inherited: [(start: UInt64, end: UInt64)]

    init(session: RemoteSession, process: ProcessState, log: Logger) {
        self.session = session
        self.process = process
        self.log = log
        fillable = process.mappings.filter(Self.isFilled).sorted { $0.start < $1.start }
        inherited = process.mappings.flatMap { $0.inheritedRanges.map { ($0.address, $0.address + $0.length) } }.sorted { $0.start < $1.start }
    }

    static func isFilled(_ m: Mapping) -> Bool {
        [.anonymous, .privateFile, .sharedAnonymous, .sysvShm, .privateShared, .aioRing].contains(m.kind) || (m.kind == .sharedFile && m.savedWhole)
    }

    /// Step 1: trampoline and scratch, at a place free in both address spaces.
    mutating func installTrampoline(stubMaps: [MapsEntry]) throws {
        let taken = (stubMaps.map { ($0.start, $0.end) } + process.mappings.map { ($0.start, $0.end) }).sorted { $0.0 < $1.0 }
        guard let at = Self.freeGap(size: trampolineSize, taken: taken) else {
            throw CheckpointError(ENOMEM, "no address free in both the image and the restorer for the trampoline")
        }
        let flags = UInt64(MAP_PRIVATE | MAP_ANONYMOUS) | MemoryFlags.mapFixedNoReplace
        let got = try session.mmap(at, trampolineSize, protection: UInt64(PROT_READ | PROT_WRITE), flags: flags, what: "trampoline")
        guard got == at else { throw CheckpointError(ENOMEM, "trampoline landed at 0x\(String(got, radix: 16)), not 0x\(String(at, radix: 16))") }
        // A syscall instruction, and at 16 the loop that runs lists of calls (SyscallProgram).
        try session.memory.write(address: at, bytes: [0x0f, 0x05] + [UInt8](repeating: 0xcc, count: 14) + SyscallProgram.code)
        try session.mprotect(at, 4096, UInt64(PROT_READ | PROT_EXEC), what: "trampoline")
        session.injector.instruction = at
        session.scratch = at + 4096
        session.scratchSize = Self.scratchPages * 4096
        session.enableCallLists(code: at + 16)
        trampoline = at
    }

    /// Lowest page-aligned gap of `size` bytes above 1 MiB between the taken ranges.
    static func freeGap(size: UInt64, taken: [(UInt64, UInt64)], from lowest: UInt64 = 0x100000) -> UInt64? {
        var candidate = lowest
        for (s, e) in taken {
            if e <= candidate { continue }
            if s >= candidate + size { return candidate }
            candidate = max(candidate, e)
        }
        return candidate + size <= 0x7fff_ffff_f000 ? candidate : nil
    }

    /// Step 2: drop the stub's own memory, keeping only the trampoline and the vDSO.
    func clearStub(stubMaps: [MapsEntry]) throws {
        if let conf = try? Ptrace.rseqConfiguration(session.pid), conf.rseq_abi_pointer != 0 {
            // A registered rseq area that gets unmapped makes every later resume fault.
            try session.call("rseq(unregister)", NR.rseq, conf.rseq_abi_pointer, UInt64(conf.rseq_abi_size),
                             MemoryFlags.rseqUnregister, UInt64(conf.signature))
        }
        for r in inherited where !Self.covered(r.start, r.end, by: stubMaps) {
            throw CheckpointError(EINVAL, "the memory at 0x\(String(r.start, radix: 16)) that process \(process.pid) shares with its parent was not inherited by its fork")
        }
        let ranges = stubMaps.filter { !$0.isKernelSpecial }.flatMap { Self.outside($0.start, $0.end, inherited) }
        try session.listing {
            for (start, end) in Self.adjacentMerged(ranges) {
                try session.queueMunmap(start, end - start, what: "0x\(String(start, radix: 16))")
            }
        }
    }

    /// Ranges that touch end to start made one (a library's segments and its
    /// bss lie back to back): one injected munmap each instead of one per
    /// mapping (91 down to 10 for a stub forked from cr_restart). Only
    /// touching ones: a gap may hold what was mapped since (the trampoline).
    static func adjacentMerged(_ ranges: [(UInt64, UInt64)]) -> [(UInt64, UInt64)] {
        var out: [(UInt64, UInt64)] = []
        for r in ranges.sorted(by: { $0.0 < $1.0 }) {
            if let last = out.last, last.1 == r.0 { out[out.count - 1].1 = r.1 } else { out.append(r) }
        }
        return out
    }

    /// Whether [start, end) is mapped without a gap.
    static func covered(_ start: UInt64, _ end: UInt64, by maps: [MapsEntry]) -> Bool {
        var at = start
        for m in maps.sorted(by: { $0.start < $1.start }) where m.end > at && m.start <= at {
            at = m.end
            if at >= end { return true }
        }
        return false
    }

    /// The parts of [start, end) outside the kept mappings (sorted, not overlapping).
    static func outside(_ start: UInt64, _ end: UInt64, _ kept: [(start: UInt64, end: UInt64)]) -> [(UInt64, UInt64)] {
        var out: [(UInt64, UInt64)] = []
        var at = start
        for k in kept where k.end > at && k.start < end {
            if k.start > at { out.append((at, k.start)) }
            at = max(at, k.end)
        }
        if at < end { out.append((at, end)) }
        return out
    }

    /// Step 3: move [vvar], [vvar_vclock] and [vdso] where the image had them.
    /// glibc caches vDSO pointers, so they must land at the same addresses; a
    /// kernel with a different vDSO gets a proxy there instead (VDSOProxy).
    func placeVDSO(stubMaps: [MapsEntry], imageKernel: String) throws {
        let wanted = process.mappings.filter { $0.kind == .vdso }
        let have = stubMaps.filter { $0.path == "[vdso]" || $0.path == "[vvar]" || $0.path == "[vvar_vclock]" }
        if wanted.isEmpty {
            for m in have { try session.munmap(m.start, m.length, what: "\(m.path ?? "")") }
            return
        }
        let layout = { (xs: [(String, UInt64)]) in xs.map { "\($0.0) \($0.1 / 4096)p" }.joined(separator: ", ") }
        let imageLayout = layout(wanted.map { ($0.path ?? "?", $0.length) })
        let stubLayout = layout(have.map { ($0.path ?? "?", $0.length) })
        func refuse(_ why: String) -> CheckpointError {
            CheckpointError(BLCRCode.badArch, "\(why): image vDSO [\(imageLayout)] from kernel \(imageKernel), this kernel [\(stubLayout)] (\(MachineInfo.kernelRelease)); restore on the kernel that wrote the image")
        }
        var moves: [(from: MapsEntry, to: Mapping)] = []
        var same = !Self.proxyForced
        for w in wanted where same {
            guard let h = have.first(where: { $0.path == w.path }), h.length == w.length else { same = false; break }
            if w.path == "[vdso]" {
                same = CRC32C.checksum(try session.memory.read(address: h.start, count: Int(h.length))) == w.contentChecksum
            }
            moves.append((h, w))
        }
        if !same {
            guard let image = wanted.first(where: { $0.path == "[vdso]" }) else { throw refuse("vDSO layout differs") }
            return try placeProxiedVDSO(image: image, stubMaps: stubMaps, refuse: refuse)
        }
        for h in have where !wanted.contains(where: { $0.path == h.path }) {
            try session.munmap(h.start, h.length, what: "\(h.path ?? "")")
        }
        guard moves.contains(where: { $0.from.start != $0.to.start }) else { return }
        // Park them first where nothing is, so no move lands on an area not yet moved.
        let total = moves.reduce(0) { $0 + $1.from.length }
        let taken = (process.mappings.map { ($0.start, $0.end) } + have.map { ($0.start, $0.end) } + [(trampoline, trampoline + trampolineSize)]).sorted { $0.0 < $1.0 }
        guard var park = Self.freeGap(size: total, taken: taken) else { throw CheckpointError(ENOMEM, "no room to move the vDSO") }
        var parked: [(UInt64, Mapping)] = []
        for mv in moves {
            try session.call("mremap(\(mv.to.path ?? ""))", NR.mremap, mv.from.start, mv.from.length, mv.from.length,
                             MemoryFlags.mremapMayMove | MemoryFlags.mremapFixed, park)
            parked.append((park, mv.to))
            park += mv.from.length
        }
        for (at, to) in parked {
            try session.call("mremap(\(to.path ?? ""))", NR.mremap, at, to.length, to.length, MemoryFlags.mremapMayMove | MemoryFlags.mremapFixed, to.start)
        }
    }

    /// Step 4: every mapping of the image at its address, writable while it is filled.
    /// Calls that need no answer (mmap at a fixed place, mprotect, madvise)
    /// are queued and run as lists (SyscallProgram); any other call runs them first.
    func createMappings(shared: SharedMemoryFactory, sysv: SysVFactory, unlinked: UnlinkedFileFactory? = nil) throws {
        var openFiles: [String: UInt64] = [:]
        defer { for fd in openFiles.values { _ = try? session.close(fd) } }
        try session.listing { try createEach(shared: shared, sysv: sysv, unlinked: unlinked, openFiles: &openFiles) }
    }

    private func createEach(shared: SharedMemoryFactory, sysv: SysVFactory, unlinked: UnlinkedFileFactory?, openFiles: inout [String: UInt64]) throws {
        for m in process.mappings {
            let prot = UInt64(m.protection)
            // MAP_DROPPABLE is a mapping type of its own, in place of MAP_PRIVATE.
            let type = m.shared ? UInt64(MAP_SHARED) : m.advice.contains(.droppable) ? MemoryFlags.mapDroppable : UInt64(MAP_PRIVATE)
            var flags = UInt64(MAP_FIXED) | type
            if m.growsDown { flags |= UInt64(MAP_GROWSDOWN) }
            if m.advice.contains(.noReserve) { flags |= UInt64(MAP_NORESERVE) }
            switch m.kind {
            case .aioRing:
                // A place for its saved pages until the context is set up again (finishMappings).
                try session.queueMmap(m.start, m.length, protection: UInt64(PROT_READ | PROT_WRITE), flags: UInt64(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS), what: "AIO ring 0x\(String(m.start, radix: 16))")
                continue
            case .anonymous where !m.inheritedRuns.isEmpty:
                // The shared pages stay as the fork left them (writable while
                // the rest is filled); the rest of the mapping is made anew.
                let kept = m.inheritedRanges.map { ($0.address, $0.address + $0.length) }
                for (start, end) in Self.outside(m.start, m.end, kept) {
                    try session.queueMmap(start, end - start, protection: prot | UInt64(PROT_READ | PROT_WRITE), flags: flags | UInt64(MAP_ANONYMOUS), what: "0x\(String(start, radix: 16))")
                }
                for (start, end) in kept {
                    try session.queueMprotect(start, end - start, prot | UInt64(PROT_READ | PROT_WRITE), what: "0x\(String(start, radix: 16))")
                }
                if !(m.path?.hasPrefix("[anon:") ?? false) {
                    // A name the parent's area had is not this one's.
                    _ = try? session.prctlRaw(.setVma, Prctl.vmaAnonName, m.start, m.length, 0)
                }
            case .anonymous:
                let huge = MemoryFlags.mapHugetlb(pageSize: m.hugePageSize)
                try session.queueMmap(m.start, m.length, protection: prot | UInt64(PROT_READ | PROT_WRITE), flags: flags | UInt64(MAP_ANONYMOUS) | huge, what: "0x\(String(m.start, radix: 16))")
            case .sharedAnonymous, .privateShared:
                // A removed file some descriptor of the image also holds: that
                // one file, made again, so writes through either are seen by
                // both (BLCR's mmaps_rw_us2); otherwise memory of its own.
                // (Not shared memory: /dev/zero, memfd and hugetlb objects, and their descriptors, are the factory's.)
                let file = m.kind == .sharedAnonymous && !["/dev/zero", "/memfd:", "/anon_hugepage", "/SYSV"].contains { m.path?.hasPrefix($0) ?? true }
                let removed = file ? try unlinked?.path(device: m.device, inode: m.inode) : nil
                let path = try removed ?? shared.path(for: m)
                let fd: UInt64
                if let f = openFiles[path] {
                    fd = f
                } else {
                    fd = try session.open(path, flags: UInt64(O_RDWR | O_CLOEXEC))
                    openFiles[path] = fd
                }
                // flags say MAP_PRIVATE for a private view: it follows the object until written to.
                try session.queueMmap(m.start, m.length, protection: prot | UInt64(PROT_READ | PROT_WRITE), flags: flags, fd: fd, offset: m.offset, what: "shared 0x\(String(m.start, radix: 16))")
            case .sysvShm:
                let original = Int32(truncatingIfNeeded: m.inode)
                let id = try sysv.segment(original: original)
                let span = ((sysv.size(original: original) ?? m.length) + 4095) & ~4095
                if m.offset == 0 && m.length == span {
                    try session.call("shmat(\(id))", NR.shmat, UInt64(id), m.start, UInt64(SHM_REMAP))
                } else {
                    // Part of an attachment (split by mprotect, or partly
                    // unmapped): shmat maps a whole segment, so it is attached
                    // where the kernel likes, this part moved into place
                    // (keeping its offset, as shmdt expects), the rest dropped.
                    let at = try session.call("shmat(\(id))", NR.shmat, UInt64(id), 0, 0)
                    try session.call("mremap(SysV \(id))", NR.mremap, at + m.offset, m.length, m.length,
                                     MemoryFlags.mremapMayMove | MemoryFlags.mremapFixed, m.start)
                    for (start, end) in [(at, at + m.offset), (at + m.offset + m.length, at + max(span, m.offset + m.length))] where end > start {
                        try session.munmap(start, end - start, what: "the rest of SysV segment \(id)")
                    }
                }
            case .privateFile where m.savedWhole && !Self.unchanged(m):
                // The file changed or is gone: its saved pages alone rebuild the mapping.
                log.notice("\(m.path ?? "?") changed since the checkpoint; its mapping at 0x\(String(m.start, radix: 16)) comes from the image")
                try session.queueMmap(m.start, m.length, protection: prot | UInt64(PROT_READ | PROT_WRITE), flags: flags | UInt64(MAP_ANONYMOUS), what: "0x\(String(m.start, radix: 16))")
            case .sharedFile where m.savedWhole:
                guard let path = m.path else { throw CheckpointError(EINVAL, "file mapping at 0x\(String(m.start, radix: 16)) has no path") }
                let fd = try openSaved(path, m)
                defer { _ = try? session.close(fd) }
                try session.queueMmap(m.start, m.length, protection: prot | UInt64(PROT_READ | PROT_WRITE), flags: flags, fd: fd, offset: m.offset, what: "\(path)")
            case .privateFile, .sharedFile:
                guard var path = m.path else { throw CheckpointError(EINVAL, "file mapping at 0x\(String(m.start, radix: 16)) has no path") }
                // A private mapping of an unlinked file the image saves for a descriptor: that very file.
                if m.kind == .privateFile, path.hasSuffix(" (deleted)") {
                    guard let made = try unlinked?.path(device: m.device, inode: m.inode) else {
                        throw CheckpointError(EINVAL, "the mapping of unlinked \(path) at 0x\(String(m.start, radix: 16)) has no saved file in the image")
                    }
                    path = made
                }
                // Read-write if it is writable now or may be made so (mprotect later needs it).
                let writeShared = m.kind == .sharedFile && ((m.protection & 2) != 0 || m.advice.contains(.mayWrite))
                let key = path + (writeShared ? "\u{0}rw" : "")
                let fd: UInt64
                if let f = openFiles[key] {
                    fd = f
                } else {
                    let p = try session.putString(path)
                    let opened = try session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), p, UInt64(writeShared ? O_RDWR : O_RDONLY) | UInt64(O_CLOEXEC), 0)
                    if opened < 0 && writeShared && m.protection & 2 == 0 {
                        // Only "may be made writable", and this restorer may not write it: read-only, as mapped.
                        fd = try session.call("open(\(path))", NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), p, UInt64(O_RDONLY | O_CLOEXEC), 0)
                    } else if opened < 0 {
                        throw CheckpointError(Int32(-opened), "open(\(path)): \(errorText(Int32(-opened)))")
                    } else {
                        fd = UInt64(opened)
                    }
                    openFiles[key] = fd
                }
                let mprot = m.kind == .privateFile ? prot | UInt64(PROT_READ | PROT_WRITE) : prot
                if m.kind == .privateFile && !m.inheritedRuns.isEmpty {
                    // As for anonymous memory: the pages written before the
                    // fork stay the parent's (the fork's mapping of the same
                    // file); the rest is mapped from the file anew.
                    let kept = m.inheritedRanges.map { ($0.address, $0.address + $0.length) }
                    for (start, end) in Self.outside(m.start, m.end, kept) {
                        try session.queueMmap(start, end - start, protection: mprot, flags: flags, fd: fd, offset: m.offset + (start - m.start), what: "\(path)")
                    }
                    for (start, end) in kept {
                        try session.queueMprotect(start, end - start, mprot, what: "0x\(String(start, radix: 16))")
                    }
                } else {
                    try session.queueMmap(m.start, m.length, protection: mprot, flags: flags, fd: fd, offset: m.offset, what: "\(path)")
                }
            case .vdso, .kernelFixed, .unknown:
                continue
            case .packetRing:
                continue  // mapped from the socket once the files are back (PacketSockets.mapRings)
            }
            try applyAdvice(m)
            if let name = m.path, name.hasPrefix("[anon:"), name.hasSuffix("]") {
                let label = String(name.dropFirst(6).dropLast())
                let p = try session.putString(label)
                // Best effort: the name is cosmetic, and kernels without CONFIG_ANON_VMA_NAME refuse it.
                _ = try? session.prctlRaw(.setVma, Prctl.vmaAnonName, m.start, m.length, p)
            }
        }
    }

    /// Same size and modification time as at the checkpoint.
    static func unchanged(_ m: Mapping) -> Bool {
        var st = stat()
        guard let path = m.path, stat(path, &st) == 0 else { return false }
        return m.fileMatches(st)
    }

    /// Opens (making it again if gone) a shared file saved whole, at least as long as it was.
    func openSaved(_ path: String, _ m: Mapping) throws -> UInt64 {
        let mode = UInt64(m.fileMode == 0 ? 0o600 : m.fileMode)
        let made = try session.openRaw(path, flags: UInt64(O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC), mode: mode)
        let fd: UInt64
        if made >= 0 {
            // Made again: its owner's (a user's file restored by root would be
            // root's, which that user could not open again), with its mode
            // whatever the stub's umask took away.
            fd = UInt64(made)
            if m.fileOwner.count == 2 { _ = try session.raw(NR.fchown, fd, m.fileOwner[0], m.fileOwner[1]) }
            _ = try session.raw(NR.fchmod, fd, mode)
        } else if made == -Int64(EEXIST) {
            fd = try session.open(path, flags: UInt64(O_RDWR | O_CLOEXEC))
        } else {
            throw CheckpointError(Int32(-made), "open(\(path)): \(errorText(Int32(-made)))")
        }
        var st = stat()
        if stat(path, &st) == 0 && UInt64(st.st_size) < m.fileSize {
            try session.call("ftruncate(\(path))", NR.ftruncate, fd, m.fileSize)
        }
        return fd
    }

    /// madvise flags the mapping had (huge pages, dump and fork behaviour).
    func applyAdvice(_ m: Mapping) throws {
        // DONTFORK and WIPEONFORK wait for finishMappings: children that inherit
        // pages are forked from this process before then.
        let table: [(Mapping.Advice, Int32)] = [(.hugePage, MADV_HUGEPAGE), (.noHugePage, MADV_NOHUGEPAGE), (.dontDump, MADV_DONTDUMP),
                                                (.sequential, MADV_SEQUENTIAL), (.random, MADV_RANDOM)]
        for (flag, advice) in table where m.advice.contains(flag) {
            try session.queueMadvise(m.start, m.length, UInt64(advice), what: "0x\(String(m.start, radix: 16)), \(advice)")
        }
        // KSM may be missing from this kernel: said, not fatal.
        if m.advice.contains(.mergeable), try session.raw(NR.madvise, m.start, m.length, UInt64(MADV_MERGEABLE)) < 0 {
            log.warning("the mapping at 0x\(String(m.start, radix: 16)) offered to KSM (MADV_MERGEABLE) could not be again")
        }
        // Before the credentials drop: locking needs CAP_IPC_LOCK or room under RLIMIT_MEMLOCK.
        if m.advice.contains(.locked), try session.raw(NR.mlock, m.start, m.length) < 0 {
            log.warning("the mlock()ed mapping at 0x\(String(m.start, radix: 16)) (\(m.length / 1024) KiB) could not be locked again")
        }
    }

    /// Checks a page run lies wholly inside mappings that take page data.
    func validate(_ run: PageRun) throws {
        var at = run.address
        while at < run.end {
            guard let m = area(containing: at) else {
                throw CheckpointError(EINVAL, "image page data at 0x\(String(at, radix: 16)) lies outside every saved mapping")
            }
            at = m.end
        }
    }

    /// The fillable area holding `address` (binary search; they do not overlap).
    private func area(containing address: UInt64) -> Mapping? {
        var low = 0, high = fillable.count
        while low < high {
            let mid = (low + high) / 2
            if fillable[mid].end <= address { low = mid + 1 } else { high = mid }
        }
        return low < fillable.count && fillable[low].start <= address ? fillable[low] : nil
    }

    /// Step 5: final protections, then the mm fields with PR_SET_MM_MAP.
    func finishMappings() throws {
        try bindMemory()
        try session.listing { try finishEach() }
        // The last list: the signals stage restores the handlers, and a list's
        // int3 (a forced SIGTRAP) would set SIGTRAP's back to the default.
        session.injector.program = nil
    }

    /// Each mapping's own NUMA policy (mbind), its pages moved where it
    /// wants them if they can be. A node this machine lacks: said, not fatal.
    private func bindMemory() throws {
        for m in process.mappings {
            guard let policy = m.memoryPolicy else { continue }
            let mask = try session.put(Self.words(policy.nodes), at: 2048)
            let maxNode = UInt64(MemoryPolicy.maxWords * 64)
            var r = try session.injector.raw(NR.mbind, m.start, m.length, policy.mode, mask, maxNode, 2)  // MPOL_MF_MOVE
            if r < 0 { r = try session.injector.raw(NR.mbind, m.start, m.length, policy.mode, mask, maxNode, 0) }
            if r < 0 {
                log.warning("the memory policy (mode 0x\(String(policy.mode, radix: 16))) of the mapping at 0x\(String(m.start, radix: 16)) could not be set again: \(errorText(Int32(-r)))")
            }
        }
    }

    /// A node mask as the kernel reads it, MemoryPolicy.maxWords words.
    static func words(_ nodes: [UInt64]) -> [UInt8] {
        (0..<MemoryPolicy.maxWords).flatMap { k in withUnsafeBytes(of: k < nodes.count ? nodes[k] : 0) { Array($0) } }
    }

    private func finishEach() throws {
        for m in process.mappings where m.kind == .aioRing { try AIORings.rebuild(m, in: session) }
        for m in process.mappings {
            for (flag, advice) in [(Mapping.Advice.dontFork, MADV_DONTFORK), (.wipeOnFork, MADV_WIPEONFORK)] where m.advice.contains(flag) {
                try session.queueMadvise(m.start, m.length, UInt64(advice), what: "0x\(String(m.start, radix: 16)), \(advice)")
            }
        }
        // Guard pages go in after the data: installing one discards what is under it.
        for m in process.mappings {
            for g in m.guardRanges {
                do {
                    try session.madvise(g.address, g.length, MemoryFlags.madvGuardInstall, what: "0x\(String(g.address, radix: 16)), MADV_GUARD_INSTALL")
                } catch let e as SystemCallError where e.errno == .invalidArgument {
                    throw CheckpointError(EINVAL, "guard pages at 0x\(String(g.address, radix: 16)) need Linux 6.13 or later (MADV_GUARD_INSTALL)")
                }
            }
        }
        for m in process.mappings where Self.isFilled(m) && (m.protection & 3) != 3 {
            try session.queueMprotect(m.start, m.length, UInt64(m.protection), what: "0x\(String(m.start, radix: 16))")
        }
        // Sealing last: nothing may change a sealed mapping after it.
        for m in process.mappings where m.advice.contains(.sealed) {
            let r = try session.raw(NR.mseal, m.start, m.length, 0)
            if r < 0 { log.warning("the sealed mapping at 0x\(String(m.start, radix: 16)) could not be sealed again: \(errorText(Int32(-r)))") }
        }
        let auxv = process.auxv + [0, 0]
        guard auxv.count * 8 <= 1024 else { throw CheckpointError(EINVAL, "auxv of \(auxv.count / 2) entries is too long") }
        let auxvBytes = auxv.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let auxvAt = try session.put(auxvBytes, at: 8192)
        let f = process.mm
        var map = MMMap()
        map.start_code = f.startCode; map.end_code = f.endCode; map.start_data = f.startData; map.end_data = f.endData
        map.start_brk = f.startBrk; map.brk = f.brk; map.start_stack = f.startStack
        map.arg_start = f.argStart; map.arg_end = f.argEnd; map.env_start = f.envStart; map.env_end = f.envEnd
        map.auxv = UnsafeMutablePointer(bitPattern: UInt(auxvAt))
        map.auxv_size = UInt32(auxvBytes.count)
        // /proc/PID/exe names the image's executable again where the kernel
        // lets the stub (CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN: root, or a
        // restart in its own namespace); elsewhere it goes on naming cr_restart.
        let exe = process.executable.hasPrefix("/") && !process.executable.hasSuffix(" (deleted)")
            ? try session.openRaw(process.executable, flags: UInt64(O_RDONLY | O_CLOEXEC)) : -1
        defer { if exe >= 0 { session.closeQuietly(UInt64(exe)) } }
        map.exe_fd = exe >= 0 ? UInt32(exe) : UInt32.max
        var at = try session.put(value: map, at: 4096)
        if exe >= 0, try session.prctlRaw(.setMm, Prctl.mmMap, at, UInt64(MemoryLayout<MMMap>.size)) == 0 { return }
        map.exe_fd = UInt32.max
        at = try session.put(value: map, at: 4096)
        try session.prctl(.setMm, Prctl.mmMap, at, UInt64(MemoryLayout<MMMap>.size))
    }
}
