/// The settings of an IPC namespace of the tree other than the
/// checkpointer's that differed from a new one's (since 2026-12-06): its
/// SysV limits and next IDs (/proc/sys/kernel) and its POSIX message queue
/// limits (/proc/sys/fs/mqueue), as (path below /proc/sys, value).
public struct IPCNamespaceSettings: Equatable, Sendable {
    /// The limits, written as the namespace is made (before its objects: a
    /// queue or segment may need them), then the next IDs, written once its
    /// objects are made (making them at their IDs uses and resets those).
    public static let limits = [
        "kernel/msgmax", "kernel/msgmnb", "kernel/msgmni", "kernel/auto_msgmni", "kernel/sem", "kernel/shmmax", "kernel/shmall",
        "kernel/shmmni", "kernel/shm_rmid_forced", "fs/mqueue/queues_max", "fs/mqueue/msg_max", "fs/mqueue/msgsize_max",
        "fs/mqueue/msg_default", "fs/mqueue/msgsize_default",
    ]
    public static let nextIDs = ["kernel/msg_next_id", "kernel/sem_next_id", "kernel/shm_next_id"]

    /// 1-based, as ProcessState.ipcNamespace.
    public var namespace: Int
    public var values: [(path: String, value: String)]

    public init(namespace: Int, values: [(path: String, value: String)]) {
        self.namespace = namespace; self.values = values
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.namespace == b.namespace && a.values.map { [$0.path, $0.value] } == b.values.map { [$0.path, $0.value] }
    }

    enum Tag: UInt16, CaseIterable { case namespace = 1, value = 2 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.namespace.rawValue, UInt64(namespace))
        for v in values { e.string(Tag.value.rawValue, "\(v.path)=\(v.value)") }
    }

    init(decoding d: RecordDecoder) throws {
        let n = try d.u64(Tag.namespace.rawValue, "IPC namespace number")
        guard (1...UInt64(1 << 20)).contains(n) else { throw ImageError.malformed(what: "settings of IPC namespace \(n)", offset: d.base) }
        namespace = Int(n)
        values = []
        for f in d.fields where f.tag == Tag.value.rawValue {
            let text = String(decoding: d.bytes[f.range], as: UTF8.self)
            guard let eq = text.firstIndex(of: "="), case let path = String(text[..<eq]), case let value = String(text[text.index(after: eq)...]),
                  (Self.limits + Self.nextIDs).contains(path), value.utf8.count <= 64, !value.utf8.contains(0), !value.contains("\n") else {
                throw ImageError.malformed(what: "IPC namespace setting \"\(text.prefix(80))\"", offset: d.offset(of: f.range))
            }
            values.append((path, value))
        }
    }
}
