import CheckpointImage
import Glibc
import LinuxKit

/// POSIX message queues (mq_open): a queue is a named object of its IPC
/// namespace that outlives its processes until mq_unlink, as a file does,
/// so it is opened again by name, with the messages it holds then. Saved:
/// its name, limits, mode and owner (to make it again where it is gone:
/// removed, or in an IPC namespace of the tree's own, which the restart
/// makes anew), and its process's mq_notify registration (SIGEV_SIGNAL or
/// SIGEV_NONE; the kernel drops it when the process goes). Messages are not
/// saved: the kernel reads a queue only by emptying it, which a checkpoint
/// killed midway could not undo; a queue made again comes back empty, and
/// the checkpoint says so when it held any.
enum MessageQueues: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.messageQueue]
    /// MQUEUE_MAGIC: statfs's f_type of the mqueue filesystem.
    static let magic = 0x1980_0202

    static func claims(_ d: OpenDescriptor) -> Bool {
        guard d.mode == S_IFREG else { return false }
        // struct statfs (120 bytes on x86_64) starts with f_type.
        var fs = [Int](repeating: 0, count: 16)
        let ok = d.procPath.withCString { path in
            fs.withUnsafeMutableBytes { Syscall.raw(NR.statfs, Int(bitPattern: path), Int(bitPattern: $0.baseAddress)) } == 0
        }
        return ok && fs[0] == magic
    }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .messageQueue
        let ours = try SocketBorrower.borrowOnce(pid: d.pid, fd: d.fd)
        defer { close(ours) }
        var attr = [Int](repeating: 0, count: 8)  // struct mq_attr: flags, maxmsg, msgsize, curmsgs, reserved
        let got = attr.withUnsafeMutableBytes { Syscall.raw(NR.mq_getsetattr, Int(ours), 0, Int(bitPattern: $0.baseAddress)) }
        guard got >= 0 else { throw CheckpointError(errno: errno, "fd \(d.fd) (message queue \(d.link)): mq_getattr") }
        // The queue file reads "QSIZE:n NOTIFY:n SIGNO:n NOTIFY_PID:n" (pread: its offset stays).
        var text = [UInt8](repeating: 0, count: 160)
        let n = pread(ours, &text, text.count, 0)
        let fields = Self.fields(String(decoding: text.prefix(max(0, n)), as: UTF8.self))
        let shown = d.deleted ? String(d.link.dropLast(" (deleted)".count)) : d.link
        var record = MessageQueueRecord(name: "/" + (shown.split(separator: "/").last.map(String.init) ?? ""),
                                        maxMessages: UInt64(attr[1]), messageSize: UInt64(attr[2]),
                                        mode: UInt64(d.st.st_mode & 0o7777), uid: UInt64(d.st.st_uid), gid: UInt64(d.st.st_gid))
        record.removed = d.deleted
        // One registration per queue: on the first of the process's descriptors of it.
        let registeredAlready = context.collected.contains { $0.kind == .messageQueue && $0.inode == d.inode && $0.device == d.device && $0.messageQueue?.notify != nil }
        if fields["NOTIFY_PID"] == Int(d.pid) && !registeredAlready {
            switch fields["NOTIFY"] {
            case 0, 1:
                record.notify = UInt64(fields["NOTIFY"] ?? 1)
                record.signal = UInt64(fields["SIGNO"] ?? 0)
            default:
                context.warn("fd \(d.fd) (message queue \(record.name)): its mq_notify thread notification (SIGEV_THREAD) is not restored")
            }
        }
        let bytes = fields["QSIZE"] ?? 0
        if bytes > 0 && (d.deleted || ownIPCNamespace(d.pid)) && context.shared.contents.first(device: d.device, inode: d.inode) {
            context.warn("fd \(d.fd) (message queue \(record.name)): its \(attr[3]) message\(attr[3] == 1 ? "" : "s") (\(bytes) bytes) are not saved; "
                         + (d.deleted ? "it was removed" : "its IPC namespace is the tree's own") + ", so it comes back empty")
        }
        state.payload = .messageQueue(record)
    }

    static func fields(_ text: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\0" }) {
            let parts = word.split(separator: ":", maxSplits: 1)
            if parts.count == 2, let v = Int(parts[1]) { out[String(parts[0])] = v }
        }
        return out
    }

    private static func ownIPCNamespace(_ pid: pid_t) -> Bool {
        guard let theirs = try? Sys.readLink("/proc/\(pid)/ns/ipc"), let ours = try? Sys.readLink("/proc/self/ns/ipc") else { return false }
        return theirs != ours
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard let r = f.messageQueue else { throw CheckpointError(EINVAL, "fd \(f.fd): message queue record missing") }
        let s = c.session
        let flags = UInt64(f.flags) & UInt64(O_ACCMODE | O_NONBLOCK)
        var name = String(r.name.dropFirst())
        var fd = -Int64(ENOENT)
        if !r.removed { fd = try s.raw(NR.mq_open, try s.putString(name), flags, 0, 0) }
        var made = false
        if fd == -Int64(ENOENT) {
            let attr: [Int64] = [0, Int64(r.maxMessages), Int64(r.messageSize), 0, 0, 0, 0, 0]
            let at = try s.put(attr.withUnsafeBytes { Array($0) }, at: 1024)
            fd = try s.raw(NR.mq_open, try s.putString(name), flags | UInt64(O_CREAT | O_EXCL), r.mode, at)
            if fd == -Int64(EEXIST) && r.removed {
                // A removed queue whose name is taken again: made under a name of its own, removed as well.
                name = "swiftcr-\(c.process.pid)-\(f.fd)"
                fd = try s.raw(NR.mq_open, try s.putString(name), flags | UInt64(O_CREAT | O_EXCL), r.mode, at)
            }
            made = fd >= 0
            if made && !r.removed && c.process.ipcNamespace == 0 {
                c.warn("fd \(f.fd) (message queue \(r.name)): the queue was gone and is made again, empty")
            }
        }
        guard fd >= 0 else { throw CheckpointError(errno: Int32(-fd), "cannot open message queue \(r.name) again for fd \(f.fd)") }
        let queue = UInt64(fd)
        if made {
            // The stub's umask took bits off; the owner as saved where allowed.
            _ = try s.raw(NR.fchmod, queue, r.mode)
            if r.uid != .max, r.gid != .max, try s.raw(NR.fchown, queue, r.uid, r.gid) < 0, geteuid() == 0 {
                c.warn("fd \(f.fd) (message queue \(r.name)): owner \(r.uid):\(r.gid) not restored")
            }
            if r.removed { _ = try s.raw(NR.mq_unlink, try s.putString(name)) }
        }
        if let notify = r.notify {
            // struct sigevent: sigev_value (8 bytes), sigev_signo, sigev_notify (4 each), the rest zero.
            var event = [UInt8](repeating: 0, count: 64)
            withUnsafeBytes(of: Int32(truncatingIfNeeded: r.signal).littleEndian) { event.replaceSubrange(8..<12, with: $0) }
            withUnsafeBytes(of: Int32(truncatingIfNeeded: notify).littleEndian) { event.replaceSubrange(12..<16, with: $0) }
            let done = try s.raw(NR.mq_notify, queue, try s.put(event, at: 1024))
            if done < 0 { c.warn("fd \(f.fd) (message queue \(r.name)): its mq_notify registration could not be made again: \(errorText(Int32(-done)))") }
        }
        return .remote(queue)
    }

    static func describe(_ f: FileDescriptorState) -> String {
        guard let r = f.messageQueue else { return "" }
        let notify = r.notify.map { $0 == 0 ? ", notifies with signal \(r.signal)" : ", notification registered" } ?? ""
        return " \(r.maxMessages) messages of \(r.messageSize) bytes, mode 0\(String(r.mode, radix: 8))\(r.removed ? ", removed" : "")\(notify)"
    }
}
