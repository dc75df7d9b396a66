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

    init(processes: [ProcessState]) {
        var s: [UInt64: UInt64] = [:], fds: [UInt64: FileDescriptorState] = [:], n: [UInt64: String] = [:]
        for p in processes {
            for m in p.mappings where m.kind == .sharedAnonymous || m.kind == .privateShared {
                let (end, overflow) = m.offset.addingReportingOverflow(m.length)
                s[m.inode] = max(s[m.inode] ?? 0, overflow ? UInt64.max : end)
                if let path = m.path { n[m.inode] = path }
            }
            for f in p.files where f.kind == .memfd {
                s[f.inode] = max(s[f.inode] ?? 0, f.memfd?.size ?? 0)
                if fds[f.inode]?.fileContents == nil { fds[f.inode] = f }
                n[f.inode] = f.path
            }
        }
        sizes = s
        memfds = fds
        names = n
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
        guard let size = sizes[inode], size < 1 << 46 else { throw CheckpointError(EINVAL, "\(what) has an impossible size") }
        let saved = memfds[inode]
        let seals = saved?.memfd?.seals ?? 0
        // A memfd made without MFD_ALLOW_SEALING reports just F_SEAL_SEAL.
        let flags: UInt64 = 1 | (seals != 0 && seals != 1 ? 2 : 0)  // MFD_CLOEXEC | MFD_ALLOW_SEALING
        let name = Array(Self.memfdName(names[inode]).utf8.prefix(249)) + [0]
        let fd = Int32(try name.withUnsafeBufferPointer { try rawSyscall("memfd_create", NR.memfd_create, Int(bitPattern: $0.baseAddress), Int(flags)) })
        objects[inode] = fd
        _ = try valueOrThrow("ftruncate(memfd, \(size))") { ftruncate(fd, off_t(size)) }
        if let mode = saved?.memfd?.mode { _ = fchmod(fd, mode_t(mode)) }
        if let contents = saved?.fileContents, !contents.isEmpty {
            try contents.withUnsafeBytes { try Sys.writeAll(fd, $0, what: what) }
        }
        return "/proc/\(getpid())/fd/\(fd)"
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
