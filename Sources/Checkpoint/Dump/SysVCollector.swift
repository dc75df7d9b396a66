import CheckpointImage
import Glibc
import LinuxKit

/// Finds the SysV IPC objects a checkpoint takes along: segments its
/// processes have attached, and semaphore sets and message queues one of
/// them operated on last (sempid, lspid, lrpid; nothing else ties these to
/// a process). Semaphore values and queued messages (read with MSG_COPY,
/// which leaves them queued) are saved.
struct SysVCollector {
    let pids: Set<pid_t>
    let segmentIDs: Set<Int32>

    static let getPID = 11, getAll = 13  // semctl
    static let msgCopy = 0o40000, msgNoError = 0o10000

    func collect() throws -> (objects: [SysVObject], warnings: [String]) {
        var objects: [SysVObject] = []
        var warnings: [String] = []
        if !segmentIDs.isEmpty {
            for row in try SysVIPCTable.read("shm") {
                guard let id = row["shmid"].map({ Int32(truncatingIfNeeded: $0) }), segmentIDs.contains(id) else { continue }
                objects.append(Self.object(.sharedMemory, row, id: id, size: row["size"] ?? 0))
            }
            for id in segmentIDs where !objects.contains(where: { $0.id == id }) {
                warnings.append("SysV segment \(id) is attached but not listed in /proc/sysvipc/shm")
            }
        }
        for row in (try? SysVIPCTable.read("sem")) ?? [] {
            guard let id = row["semid"].map({ Int32(truncatingIfNeeded: $0) }), let n = row["nsems"], n > 0, n <= 32000 else { continue }
            let users = (0..<Int(n)).compactMap { try? rawSyscall("semctl", NR.semctl, Int(id), $0, Self.getPID, 0) }
            guard users.contains(where: { pids.contains(pid_t(truncatingIfNeeded: $0)) }) else { continue }
            var values = [UInt16](repeating: 0, count: Int(n))
            let r = values.withUnsafeMutableBytes { try? rawSyscall("semctl", NR.semctl, Int(id), 0, Self.getAll, Int(bitPattern: $0.baseAddress)) }
            guard r != nil else { warnings.append("SysV semaphore set \(id): values unreadable; not saved"); continue }
            var o = Self.object(.semaphores, row, id: id, size: n)
            o.values = values.map(UInt64.init)
            objects.append(o)
        }
        for row in (try? SysVIPCTable.read("msg")) ?? [] {
            guard let id = row["msqid"].map({ Int32(truncatingIfNeeded: $0) }) else { continue }
            let users = [row["lspid"], row["lrpid"]].compactMap { $0 }.map { pid_t(truncatingIfNeeded: $0) }
            guard users.contains(where: { pids.contains($0) }) else { continue }
            var o = Self.object(.messageQueue, row, id: id, size: row["cbytes"] ?? 0)
            var buffer = [UInt8](repeating: 0, count: 8 + (1 << 20))
            for k in 0..<Int(row["qnum"] ?? 0) {
                let n = buffer.withUnsafeMutableBytes {
                    try? rawSyscall("msgrcv", NR.msgrcv, Int(id), Int(bitPattern: $0.baseAddress), $0.count - 8, k, Int(IPC_NOWAIT) | Self.msgCopy | Self.msgNoError)
                }
                guard let n else { warnings.append("SysV message queue \(id): message \(k) unreadable (MSG_COPY); the rest are not saved"); break }
                let type = buffer.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }
                o.messages.append((type, Array(buffer[8..<(8 + n)])))
            }
            objects.append(o)
        }
        return (objects, warnings)
    }

    static func object(_ kind: SysVObject.Kind, _ row: [String: UInt64], id: Int32, size: UInt64) -> SysVObject {
        SysVObject(kind: kind, key: Int32(truncatingIfNeeded: row["key"] ?? 0), id: id, mode: UInt32(truncatingIfNeeded: row["perms"] ?? 0o600),
                   uid: UInt32(truncatingIfNeeded: row["uid"] ?? 0), gid: UInt32(truncatingIfNeeded: row["gid"] ?? 0), size: size)
    }
}
