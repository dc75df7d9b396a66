import CheckpointImage
import Glibc
import LinuxKit

/// A restart on a kernel whose vDSO differs from the image's (another kernel
/// build: after a reboot, on another node). glibc keeps pointers into the
/// old vDSO, so the old address gets a copy of the old vDSO's bytes (its ELF
/// headers stay readable for dl_iterate_phdr and unwinders) in which every
/// exported function starts with a jump to the same function of this
/// kernel's vDSO; this kernel's vDSO and vvar move, together, to a free place
/// near it. The idea is CRIU's vDSO proxy.
struct VDSOProxy {
    /// The patched copy of the old vDSO, to be mapped at `oldStart`.
    let code: [UInt8]

    struct Refusal: Error { let why: String }

    /// `oldBytes` at `oldStart` (the image's), `newSymbols` at `newStart` (this kernel's).
    init(oldBytes: [UInt8], oldStart: UInt64, newSymbols: VDSOSymbols, newStart: UInt64) throws {
        let old: VDSOSymbols
        do { old = try VDSOSymbols(parsing: oldBytes) } catch let e as VDSOSymbols.Malformed { throw Refusal(why: "the image's \(e)") }
        var code = oldBytes
        for (name, function) in old.functions.sorted(by: { $0.key < $1.key }) {
            guard let target = newSymbols.functions[name] else { throw Refusal(why: "this kernel's vDSO has no \(name)") }
            let at = Int(function.offset)
            let to = newStart &+ target.offset
            // rel32 from the end of a 5-byte jmp, else an absolute jmp *0(%rip) with the address after it.
            let distance = Int64(bitPattern: to &- (oldStart &+ function.offset &+ 5))
            if let rel = Int32(exactly: distance), function.size >= 5, at + 5 <= code.count {
                code[at] = 0xe9
                withUnsafeBytes(of: rel.littleEndian) { for (k, b) in $0.enumerated() { code[at + 1 + k] = b } }
            } else if function.size >= 14, at + 14 <= code.count {
                code.replaceSubrange(at..<at + 6, with: [0xff, 0x25, 0, 0, 0, 0])
                withUnsafeBytes(of: to.littleEndian) { for (k, b) in $0.enumerated() { code[at + 6 + k] = b } }
            } else {
                throw Refusal(why: "no room for a jump at \(name) (\(function.size) bytes, its new code \(distance) bytes away)")
            }
        }
        self.code = code
    }
}

extension AddressSpaceRestorer {
    /// SWIFTCR_VDSO_PROXY=1 takes this path on the same kernel too (tests: no other kernel here).
    static var proxyForced: Bool { getenv("SWIFTCR_VDSO_PROXY").map { String(cString: $0) == "1" } ?? false }

    /// Step 3 when this kernel's vDSO is not the image's: the stub's vDSO and
    /// vvar move near the image's vDSO address, and a proxy goes there.
    func placeProxiedVDSO(image vdso: Mapping, stubMaps: [MapsEntry], refuse: (String) -> CheckpointError) throws {
        let have = stubMaps.filter { $0.path == "[vdso]" || $0.path == "[vvar]" || $0.path == "[vvar_vclock]" }.sorted { $0.start < $1.start }
        guard !vdso.content.isEmpty else { throw refuse("vDSO code differs and the image (older than 2026-12-07) keeps no copy of its own") }
        guard let current = have.first(where: { $0.path == "[vdso]" }), let first = have.first, let last = have.last else {
            throw refuse("this kernel maps no vDSO")
        }
        let newSymbols: VDSOSymbols
        do { newSymbols = try VDSOSymbols(parsing: try session.memory.read(address: current.start, count: Int(current.length))) } catch let e as VDSOSymbols.Malformed {
            throw refuse("this kernel's \(e)")
        }
        // This kernel's block, kept whole (its code finds its vvar at a fixed
        // distance), within 1 GiB of the old vDSO so the jumps are rel32.
        let size = last.end - first.start
        let taken = (process.mappings.map { ($0.start, $0.end) } + have.map { ($0.start, $0.end) } + [(trampoline, trampoline + trampolineSize)]).sorted { $0.0 < $1.0 }
        let near = vdso.start > 1 << 30 ? vdso.start - (1 << 30) : 0x100000
        guard let block = Self.freeGap(size: size, taken: taken, from: max(near, 0x100000)) ?? Self.freeGap(size: size, taken: taken) else {
            throw CheckpointError(ENOMEM, "no room to move the vDSO")
        }
        let proxy: VDSOProxy
        do {
            proxy = try VDSOProxy(oldBytes: vdso.content, oldStart: vdso.start, newSymbols: newSymbols, newStart: block + (current.start - first.start))
        } catch let r as VDSOProxy.Refusal {
            throw refuse("vDSO code differs and cannot be bridged: \(r.why)")
        }
        for h in have {
            try session.call("mremap(\(h.path ?? ""))", NR.mremap, h.start, h.length, h.length,
                             MemoryFlags.mremapMayMove | MemoryFlags.mremapFixed, block + (h.start - first.start))
        }
        _ = try session.mmap(vdso.start, vdso.length, protection: UInt64(PROT_READ | PROT_WRITE), flags: UInt64(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS),
                             what: "vDSO proxy")
        try session.memory.write(address: vdso.start, bytes: proxy.code)
        try session.mprotect(vdso.start, vdso.length, UInt64(vdso.protection), what: "vDSO proxy")
        log.info("process \(process.pid): this kernel's vDSO is not the image's: a proxy at 0x\(String(vdso.start, radix: 16)) jumps to it at 0x\(String(block + (current.start - first.start), radix: 16))")
    }
}
