import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Brings back the image's SysV IPC objects before (segments) and after
/// (semaphores, queues, removal) the processes are rebuilt:
/// - an object still there with the same key and size is used as it is
///   (segments get the image's contents, being memory of the processes);
/// - otherwise it is made again with the same key, and as root with the
///   same ID (kernel.{shm,sem,msg}_next_id), values and messages included;
/// - a segment removed while attached (SHM_DEST) is removed again once
///   every stub has attached it;
/// - a segment of huge pages (SHM_HUGETLB, as its attachments' page size
///   says) is made of huge pages of that size again, or of ordinary ones
///   with a warning where the pool or the user's rights refuse them.
final class SysVFactory {
    private let objects: [SysVObject]
    /// Original segment ID -> the huge page size its attachments had (absent: ordinary pages).
    private let hugePageSizes: [Int32: UInt64]
    private let log: Logger
    private var segments: [Int32: Int32] = [:]
    private var warnings: [String] = []

    static let ipcStat: Int = 2, ipcRemove: Int = 0, ipcSet: Int = 1, setAll = 17, shmDest: UInt32 = 0o1000

    init(objects: [SysVObject], hugePageSizes: [Int32: UInt64] = [:], log: Logger) {
        var seen: Set<[Int64]> = []
        self.objects = objects.filter { seen.insert([Int64($0.kind.rawValue), Int64($0.id)]).inserted }
        self.hugePageSizes = hugePageSizes
        self.log = log
    }

    /// The huge page size of each SysV segment the processes of IPC namespace `namespace` attach.
    static func hugePageSizes(_ processes: [ProcessState], namespace: Int) -> [Int32: UInt64] {
        var sizes: [Int32: UInt64] = [:]
        for p in processes where p.ipcNamespace == namespace {
            for m in p.mappings where m.kind == .sysvShm && m.hugePageSize != 0 {
                sizes[Int32(truncatingIfNeeded: m.inode)] = m.hugePageSize
            }
        }
        return sizes
    }

    var hasObjects: Bool { !objects.isEmpty }

    /// The size of the segment the image knew as `original`, if it describes it.
    func size(original: Int32) -> UInt64? {
        objects.first { $0.kind == .sharedMemory && $0.id == original }?.size
    }

    /// The ID to attach for a segment the image knew as `original`.
    func segment(original: Int32) throws -> Int32 {
        if let id = segments[original] { return id }
        guard let o = objects.first(where: { $0.kind == .sharedMemory && $0.id == original }) else {
            throw CheckpointError(EINVAL, "a mapping names SysV segment \(original), which the image does not describe")
        }
        var ds = shmid_ds()
        let id: Int32
        if shmctl(o.id, IPC_STAT, &ds) == 0,
           ds.shm_perm.__key == o.key, UInt64(ds.shm_segsz) == o.size, o.key != 0 || ds.shm_perm.mode & Self.shmDest == 0 {
            id = o.id
        } else {
            let flags = Int(IPC_CREAT | IPC_EXCL) | Int(o.mode & 0o777)
            let huge = hugePageSizes[original] ?? 0
            id = try create(o, "shm") {
                if huge != 0 {
                    do { return try rawSyscall("shmget", NR.shmget, Int(o.key), Int(o.size), flags | Int(MemoryFlags.shmHugetlb(pageSize: huge))) } catch let e as SystemCallError where [ENOMEM, EPERM, EINVAL].contains(e.errno.rawValue) {
                        // No huge pages free, or no right to them (CAP_IPC_LOCK or vm.hugetlb_shm_group).
                        warnings.append("SysV segment \(o.id) came back in ordinary pages, not huge pages of \(huge >> 10) KiB: \(e)")
                    }
                }
                return try rawSyscall("shmget", NR.shmget, Int(o.key), Int(o.size), flags)
            }
        }
        segments[original] = id
        return id
    }

    /// Makes an object with `make`, under its original ID when kernel.<kind>_next_id can be set (root).
    private func create(_ o: SysVObject, _ kind: String, _ make: () throws -> Int) throws -> Int32 {
        let knob = "/proc/sys/kernel/\(kind)_next_id"
        let exact = Self.write(knob, "\(o.id)")
        defer { if exact { _ = Self.write(knob, "-1") } }
        let id: Int32
        do { id = Int32(truncatingIfNeeded: try make()) } catch let e as SystemCallError {
            throw CheckpointError(e.errno.rawValue, "cannot make SysV \(kind) \(o.id) (key 0x\(String(UInt32(bitPattern: o.key), radix: 16))) again: \(e)")
        }
        if id != o.id { warnings.append("SysV \(kind) \(o.id) came back as \(id): choosing IPC IDs needs root") }
        if getuid() == 0 {
            // Back to its owner: made by root, it would be root's.
            var perm = ipc_perm()
            perm.uid = o.uid; perm.gid = o.gid; perm.mode = o.mode & 0o777
            setOwner(kind, id, perm)
        }
        return id
    }

    /// IPC_STAT then IPC_SET, since IPC_SET also writes fields such as msg_qbytes.
    private func setOwner(_ kind: String, _ id: Int32, _ perm: ipc_perm) {
        func apply(_ p: inout ipc_perm) { p.uid = perm.uid; p.gid = perm.gid; p.mode = perm.mode }
        switch kind {
        case "shm":
            var ds = shmid_ds()
            if shmctl(id, IPC_STAT, &ds) == 0 { apply(&ds.shm_perm); _ = shmctl(id, IPC_SET, &ds) }
        case "msg":
            var ds = msqid_ds()
            if msgctl(id, IPC_STAT, &ds) == 0 { apply(&ds.msg_perm); _ = msgctl(id, IPC_SET, &ds) }
        default:
            var ds = semid_ds()
            withUnsafeMutablePointer(to: &ds) { p in
                let at = Int(bitPattern: p)
                if (try? rawSyscall("semctl", NR.semctl, Int(id), 0, Self.ipcStat, at)) != nil {
                    apply(&p.pointee.sem_perm)
                    _ = try? rawSyscall("semctl", NR.semctl, Int(id), 0, Self.ipcSet, at)
                }
            }
        }
    }

    /// Semaphore sets and message queues, then removal of SHM_DEST segments.
    func finish() throws -> [String] {
        for o in objects where o.kind == .semaphores && !exists(o, "sem") {
            let id = try create(o, "sem") { try rawSyscall("semget", NR.semget, Int(o.key), Int(o.size), Int(IPC_CREAT | IPC_EXCL) | Int(o.mode & 0o777)) }
            var values = o.values.map { UInt16(truncatingIfNeeded: $0) }
            _ = try values.withUnsafeMutableBytes { try rawSyscall("semctl(SETALL)", NR.semctl, Int(id), 0, Self.setAll, Int(bitPattern: $0.baseAddress)) }
        }
        for o in objects where o.kind == .messageQueue && !exists(o, "msg") {
            let id = try create(o, "msg") { try rawSyscall("msgget", NR.msgget, Int(o.key), Int(IPC_CREAT | IPC_EXCL) | Int(o.mode & 0o777)) }
            for m in o.messages {
                var buffer = withUnsafeBytes(of: m.type.littleEndian) { Array($0) } + m.text
                let r = buffer.withUnsafeMutableBytes { msgsnd(id, $0.baseAddress, m.text.count, IPC_NOWAIT) }
                if r != 0 { warnings.append("SysV queue \(o.id): a message of \(m.text.count) bytes could not be queued again (\(errorText(errno)))") }
            }
        }
        for o in objects where o.kind == .sharedMemory && o.mode & Self.shmDest != 0 {
            if let id = segments[o.id] { _ = shmctl(id, IPC_RMID, nil) }
        }
        return warnings
    }

    /// An object still there under its ID and key (another user of it kept it alive): used as it is.
    private func exists(_ o: SysVObject, _ kind: String) -> Bool {
        let found = kind == "sem" ? (try? rawSyscall("semget", NR.semget, Int(o.key), 0, 0)) : (try? rawSyscall("msgget", NR.msgget, Int(o.key), 0))
        guard o.key != 0, let id = found, Int32(truncatingIfNeeded: id) == o.id else { return false }
        log.info("SysV \(kind) \(o.id) still exists; it is used as it is")
        return true
    }

    private static func write(_ path: String, _ text: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return text.withCString { Glibc.write(fd, $0, strlen($0)) } > 0
    }
}
