import CheckpointImage
import Glibc
import LinuxKit

/// Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, memfd, /dev/zero, SysV
/// shm) is one kernel object however many processes map it; the maps inode
/// names it. The restorer makes one memfd per object, and every stub maps it
/// through /proc/<restorer>/fd/N, so writes by one process are seen by all,
/// as before the checkpoint.
final class SharedMemoryFactory {
    private var objects: [UInt64: Int32] = [:]
    /// Size each object needs: the furthest (offset + length) any mapping of it reaches.
    private let sizes: [UInt64: UInt64]

    init(processes: [ProcessState]) {
        var s: [UInt64: UInt64] = [:]
        for p in processes {
            for m in p.mappings where m.kind == .sharedAnonymous {
                let (end, overflow) = m.offset.addingReportingOverflow(m.length)
                s[m.inode] = max(s[m.inode] ?? 0, overflow ? UInt64.max : end)
            }
        }
        sizes = s
    }

    /// The /proc path a stub opens to map this mapping's object.
    func path(for m: Mapping) throws -> String {
        if let fd = objects[m.inode] { return "/proc/\(getpid())/fd/\(fd)" }
        guard let size = sizes[m.inode], size < 1 << 46 else {
            throw CheckpointError(EINVAL, "shared memory at 0x\(String(m.start, radix: 16)) has an impossible size")
        }
        let name: StaticString = "swiftcr-shared"
        let fd = Int32(try rawSyscall("memfd_create", NR.memfd_create, Int(bitPattern: name.utf8Start), 1))  // MFD_CLOEXEC
        _ = try valueOrThrow("ftruncate(memfd, \(size))") { ftruncate(fd, off_t(size)) }
        objects[m.inode] = fd
        return "/proc/\(getpid())/fd/\(fd)"
    }

    func close() {
        for fd in objects.values { Glibc.close(fd) }
        objects.removeAll()
    }
}
