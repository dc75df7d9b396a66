/// A POSIX message queue (mq_open): its name in its IPC namespace, its
/// limits, permission bits and owner, whether it had been removed
/// (mq_unlink), and the notification its process had registered on it
/// (mq_notify; the queue file's NOTIFY_PID was the process).
public struct MessageQueueRecord: DescriptorPayloadRecord {
    /// "/NAME", as /proc shows it.
    public var name: String
    public var maxMessages: UInt64
    public var messageSize: UInt64
    public var mode: UInt64
    public var uid: UInt64
    public var gid: UInt64
    public var removed = false
    /// sigev_notify (SIGEV_SIGNAL 0, SIGEV_NONE 1) and sigev_signo of the
    /// process's registration; nil: none of this process's.
    public var notify: UInt64? {
        get { notifyKind == UInt64.max ? nil : notifyKind }
        set { notifyKind = newValue ?? UInt64.max }
    }
    /// Stored without an Optional: with `UInt64?` here, Swift 6.3 (debug
    /// builds) laid DescriptorPayload's new case out wrongly, and its encode
    /// read the record as zeros (ProcessRecordTests catches it).
    private var notifyKind = UInt64.max
    public var signal: UInt64 = 0

    public init(name: String, maxMessages: UInt64, messageSize: UInt64, mode: UInt64, uid: UInt64, gid: UInt64) {
        self.name = name; self.maxMessages = maxMessages; self.messageSize = messageSize
        self.mode = mode; self.uid = uid; self.gid = gid
    }

    enum Tag: UInt16, CaseIterable {
        case name = 1, maxMessages = 2, messageSize = 3, mode = 4, uid = 5, gid = 6, removed = 7, notify = 8, signal = 9
    }

    func encode(into e: inout RecordEncoder) {
        e.string(Tag.name.rawValue, name)
        e.u64(Tag.maxMessages.rawValue, maxMessages)
        e.u64(Tag.messageSize.rawValue, messageSize)
        e.u64(Tag.mode.rawValue, mode)
        e.u64(Tag.uid.rawValue, uid)
        e.u64(Tag.gid.rawValue, gid)
        if removed { e.u64(Tag.removed.rawValue, 1) }
        if let notify {
            e.u64(Tag.notify.rawValue, notify)
            e.u64(Tag.signal.rawValue, signal)
        }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        name = d.string(Tag.name.rawValue) ?? ""
        maxMessages = try d.u64(Tag.maxMessages.rawValue, "message queue size")
        messageSize = try d.u64(Tag.messageSize.rawValue, "message queue message size")
        mode = try d.u64(Tag.mode.rawValue, default: 0o600)
        uid = try d.u64(Tag.uid.rawValue, default: .max)
        gid = try d.u64(Tag.gid.rawValue, default: .max)
        removed = try d.flag(Tag.removed.rawValue, fd: fd, "message queue removed")
        notify = try d.optionalU64(Tag.notify.rawValue)
        signal = try d.u64(Tag.signal.rawValue, default: 0)
        // A name is one component after its slash (NAME_MAX), as mq_open takes it.
        let body = name.utf8.dropFirst()
        guard name.hasPrefix("/"), !body.isEmpty, body.count <= 255, !body.contains(UInt8(ascii: "/")), !body.contains(0),
              maxMessages > 0, maxMessages <= 1 << 20, messageSize > 0, messageSize <= 1 << 24, mode <= 0o7777,
              uid == .max || uid <= UInt64(UInt32.max), gid == .max || gid <= UInt64(UInt32.max),
              notify.map({ $0 <= 1 }) ?? true, signal <= 64 else {
            throw ImageError.malformed(what: "message queue fd \(fd): name \"\(name)\", \(maxMessages) messages of \(messageSize) bytes, mode 0o\(String(mode, radix: 8)), notify \(notify.map(String.init) ?? "none") signal \(signal)", offset: d.base)
        }
    }

    /// Kind 26 is new since 2026-12-06: no image before 1.2 has one.
    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        throw ImageError.malformed(what: "message queue fd \(fd) without its record", offset: legacy.base)
    }
}
