import CheckpointImage
import Glibc
import LinuxKit

/// Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, memfd, /dev/zero) is
/// one kernel object however many processes map it or hold it open; its
/// inode names it. The restorer makes one memfd per object (with the memfd's
/// own name, contents and size), and every stub maps or opens it through
/// /proc/<restorer>/fd/N, so writes by one process are seen by all, as
/// before the checkpoint. Seals go on last, once every mapping exists.
final class SharedMemoryFactory {
    private var objects: [UInt64: Int32] = [:]
    /// Size each object needs: its file size, or the furthest (offset + length) any mapping of it reaches.
    private let sizes: [UInt64: UInt64]
    /// memfd descriptors of the image by inode: name, seals and contents.
    private let memfds: [UInt64: FileDescriptorState]
    private let names: [UInt64: String]
    /// Huge page size of hugetlb objects (MAP_HUGETLB shared memory, MFD_HUGETLB memfds).
    private let hugePageSizes: [UInt64: UInt64]

    init(processes: [ProcessState]) {
        var s: [UInt64: UInt64] = [:], fds: [UInt64: FileDescriptorState] = [:], n: [UInt64: String] = [:], huge: [UInt64: UInt64] = [:]
        for p in processes {
            for m in p.mappings where m.kind == .sharedAnonymous || m.kind == .privateShared {
                let (end, overflow) = m.offset.addingReportingOverflow(m.length)
                s[m.inode] = max(s[m.inode] ?? 0, overflow ? UInt64.max : end)
                if let path = m.path { n[m.inode] = path }
                if m.hugePageSize != 0 { huge[m.inode] = m.hugePageSize }
            }
            for f in p.files where f.kind == .memfd {
                s[f.inode] = max(s[f.inode] ?? 0, f.memfd?.size ?? 0)
                if fds[f.inode]?.fileContents == nil { fds[f.inode] = f }
                n[f.inode] = f.path
                if let h = f.memfd?.hugePageSize, h != 0 { huge[f.inode] = h }
            }
        }
        sizes = s
        memfds = fds
        names = n
        hugePageSizes = huge
    }

    /// The /proc path a stub opens to map this mapping's object.
    func path(for m: Mapping) throws -> String {
        try path(inode: m.inode, what: "shared memory at 0x\(String(m.start, radix: 16))")
    }

    /// The /proc path a stub opens for a memfd descriptor.
    func path(for f: FileDescriptorState) throws -> String {
        try path(inode: f.inode, what: "fd \(f.fd) (\(f.path))")
    }

    private var handedOut: Set<UInt64> = []

    /// The restorer's memfd itself, for the first read-write open file of
    /// it (as memfd_create made it: an open through /proc would count as a
    /// writer, and exec of the memfd would then fail with ETXTBSY), at the
    /// descriptor's offset. Nil once handed out or for another mode.
    func original(for f: FileDescriptorState) throws -> Int32? {
        guard f.flags & UInt32(O_ACCMODE) == UInt32(O_RDWR), f.sameAs.isEmpty, !handedOut.contains(f.inode) else { return nil }
        _ = try path(for: f)
        guard let fd = objects[f.inode] else { return nil }
        handedOut.insert(f.inode)
        _ = lseek(fd, off_t(f.offset), SEEK_SET)
        _ = fcntl(fd, F_SETFL, Int32(bitPattern: f.flags) & (O_APPEND | O_NONBLOCK))
        return fd
    }

    private func path(inode: UInt64, what: String) throws -> String {
        if let fd = objects[inode] { return "/proc/\(getpid())/fd/\(fd)" }
        guard var size = sizes[inode], size < 1 << 46 else { throw CheckpointError(EINVAL, "\(what) has an impossible size") }
        let saved = memfds[inode]
        let seals = saved?.memfd?.seals ?? 0
        let huge = hugePageSizes[inode] ?? 0
        // A memfd made without MFD_ALLOW_SEALING reports just F_SEAL_SEAL.
        var flags: UInt64 = 1 | (seals != 0 && seals != 1 ? 2 : 0)  // MFD_CLOEXEC | MFD_ALLOW_SEALING
        if huge != 0 {
            flags |= MemoryFlags.memfdHugetlb(pageSize: huge)
            size = (size + huge - 1) & ~(huge - 1)  // hugetlbfs takes whole pages only
        }
        if saved == nil, names[inode] == "/dev/zero" || names[inode] == "/anon_hugepage", let fd = Self.anonymousObject(size: size, huge: huge) {
            objects[inode] = fd
            return "/proc/\(getpid())/fd/\(fd)"
        }
        let name = Array(Self.memfdName(names[inode]).utf8.prefix(249)) + [0]
        let fd = Int32(try name.withUnsafeBufferPointer { try rawSyscall("memfd_create", NR.memfd_create, Int(bitPattern: $0.baseAddress), Int(flags)) })
        objects[inode] = fd
        _ = try valueOrThrow("ftruncate(memfd, \(size))") { ftruncate(fd, off_t(size)) }
        if let mode = saved?.memfd?.mode { _ = fchmod(fd, mode_t(mode)) }
        if let contents = saved?.fileContents, !contents.isEmpty {
            if huge != 0 { try Self.writeMapped(fd, contents, what: what) } else {
                try contents.withUnsafeBytes { try Sys.writeAll(fd, $0, what: what) }
            }
        }
        return "/proc/\(getpid())/fd/\(fd)"
    }

    /// MAP_SHARED|MAP_ANONYMOUS memory as the kernel makes it, so maps names
    /// it as before ("/dev/zero (deleted)", or "/anon_hugepage (deleted)" on
    /// the hugetlb mount): mapped here and held through /proc/self/map_files,
    /// which takes CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE. Nil where that is
    /// refused (a user's restart): a memfd stands in.
    private static func anonymousObject(size: UInt64, huge: UInt64) -> Int32? {
        let flags = MAP_SHARED | MAP_ANONYMOUS | Int32(truncatingIfNeeded: MemoryFlags.mapHugetlb(pageSize: huge))
        guard size > 0, let at = mmap(nil, Int(size), PROT_READ | PROT_WRITE, flags, -1, 0), at != MAP_FAILED else { return nil }
        defer { munmap(at, Int(size)) }
        let start = UInt(bitPattern: at)
        let fd = open("/proc/self/map_files/\(String(start, radix: 16))-\(String(start + UInt(size), radix: 16))", O_RDWR | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }

    /// hugetlbfs has no write(): the contents go in through a mapping.
    private static func writeMapped(_ fd: Int32, _ contents: [UInt8], what: String) throws {
        guard let at = mmap(nil, contents.count, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), at != MAP_FAILED else {
            throw CheckpointError(errno: errno, "\(what): mapping the huge-page memfd to fill it")
        }
        defer { munmap(at, contents.count) }
        contents.withUnsafeBytes { if let base = $0.baseAddress { at.copyMemory(from: base, byteCount: $0.count) } }
    }

    /// "/memfd:NAME (deleted)" -> NAME; other shared memory gets a name saying where it came from.
    static func memfdName(_ path: String?) -> String {
        guard var p = path, p.hasPrefix("/memfd:") else { return "swiftcr-shared" }
        p.removeFirst("/memfd:".count)
        if p.hasSuffix(" (deleted)") { p.removeLast(" (deleted)".count) }
        return p
    }

    /// Applies the saved seals; returns what could not be sealed again.
    func seal() -> [String] {
        var warnings: [String] = []
        for (inode, fd) in objects {
            guard let f = memfds[inode], let seals = f.memfd?.seals, seals & ~1 != 0 else { continue }
            if fcntl(fd, FcntlCommand.addSeals, Int32(truncatingIfNeeded: seals)) != 0 {
                warnings.append("memfd \(f.path): seals 0x\(String(seals, radix: 16)) could not be applied again (\(errorText(errno)))")
            }
        }
        return warnings
    }

    func close() {
        for fd in objects.values { Glibc.close(fd) }
        objects.removeAll()
    }
}
