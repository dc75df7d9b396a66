import CheckpointImage
import Glibc
import LinuxKit

/// A fanotify group, from fdinfo lines
/// `fanotify flags:10 event-flags:0`,
/// `fanotify ino:4f969 sdev:800013 mflags:0 mask:3b ignored_mask:0 fhandle-bytes:8 ...`,
/// `fanotify mnt_id:18 mflags:0 mask:20 ignored_mask:0` and `fanotify sdev:800013 ...`:
/// made again with fanotify_init and each mark added through a path to what
/// it is on (an inode's found by its file handle, as inotify's; a mount's and
/// a file system's in the process's mountinfo). Waiting events are lost.
enum FanotifyGroups: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.fanotify]

    static func claims(_ d: OpenDescriptor) -> Bool { d.link == "anon_inode:[fanotify]" }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .fanotify
        let lines = d.fdinfo.split(separator: "\n").filter { $0.hasPrefix("fanotify ") }.map(fields)
        guard let head = lines.first(where: { $0["event-flags"] != nil }), let flags = hex(head["flags"]) else {
            throw CheckpointError(EINVAL, "fd \(d.fd): fanotify fdinfo without its flags line")
        }
        var record = FanotifyRecord(initFlags: flags, eventFlags: hex(head["event-flags"]) ?? 0)
        let mounts = Mounts(entries: (try? MountInfo.read(pid: d.pid)) ?? [])
        let places = ["/proc/\(d.pid)/cwd"].compactMap { try? String(decoding: Sys.readLink($0), as: UTF8.self) }
            + context.descriptors.map(\.link).filter { $0.hasPrefix("/") }
        var search: [[UInt64]: String]?
        let removed = context.removedFilesHeld(for: d)
        for f in lines where f["mflags"] != nil {
            let (mflags, mask, ignored) = (hex(f["mflags"]) ?? 0, hex(f["mask"]) ?? 0, hex(f["ignored_mask"]) ?? 0)
            let target: FanotifyRecord.Target
            var path: String?
            var heldBy: Int32?
            if f["ino"] != nil, let w = InotifyWatches.parse("inotify wd:1 " + f.text).first {
                target = .inode
                let holder = removed[[w.device, w.inode]]
                heldBy = holder?.fd
                path = holder?.link ?? InotifyWatches.byHandle(w)
                if path == nil {
                    if search == nil { search = InotifyWatches.index(places) }
                    path = search?[[w.device, w.inode]]
                }
            } else if let id = hex(f["mnt_id"]) {
                target = .mount
                path = mounts.point(id: id)
            } else if let sdev = hex(f["sdev"]) {
                target = .filesystem
                path = mounts.point(major: UInt32(sdev >> 20), minor: UInt32(sdev & 0xfffff))
            } else {
                context.warn("fd \(d.fd): fanotify mark '\(f.text)' is not understood; it is dropped")
                continue
            }
            guard let p = path else {
                context.warn("fd \(d.fd): fanotify mark '\(f.text)' has no path this user can find; it is dropped")
                continue
            }
            if heldBy == nil && p.hasSuffix(" (deleted)") {
                context.warn("fd \(d.fd): fanotify mark on \(p) is dropped: the file was removed and nothing holds it")
                continue
            }
            record.marks.append(.init(target: target, path: p, flags: mflags, mask: mask, ignoredMask: ignored, heldBy: heldBy.map { UInt64($0) }))
        }
        state.payload = .fanotify(record)
        context.warnOfUnreadEvents(d, "fanotify")
    }

    /// fanotify_init with the saved flags (fdinfo's include FAN_NONBLOCK).
    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard let record = f.fanotify else { throw CheckpointError(EINVAL, "fd \(f.fd): fanotify without its record") }
        return .remote(try c.session.call("fanotify_init", NR.fanotify_init, record.initFlags, record.eventFlags))
    }

    /// The marks, once every descriptor is back, by path: the event mask and
    /// the ignored mask each with its own fanotify_mark. The kernel lists a
    /// group's newest mark first: added last to first, they list as before.
    static func finish(_ f: FileDescriptorState, in c: FileRestoreContext) throws {
        let duplicate = f.sharesWith != f.fd && c.process.files.contains { $0.fd == f.sharesWith }
        guard f.sameAs.isEmpty, !duplicate, let record = f.fanotify else { return }
        for m in record.marks.reversed() {
            // DONT_FOLLOW: the path is the inode (but /proc/self/fd/N must be followed); MOUNT; FILESYSTEM.
            let on: UInt64 = m.target == .inode ? (m.heldBy == nil ? 0x4 : 0) : m.target == .mount ? 0x10 : 0x100
            let keep = m.flags & 0x200  // FAN_MARK_EVICTABLE, from the call that makes the mark on
            // FAN_MARK_IGNORE (else FAN_MARK_IGNORED_MASK), with FAN_MARK_IGNORED_SURV_MODIFY as it was.
            let ignore: UInt64 = (m.flags & 0x400 != 0 ? 0x400 : 0x20) | m.flags & 0x40
            let p = try c.session.putString(m.heldBy.map { "/proc/self/fd/\($0)" } ?? m.path)
            for (mask, extra) in [(m.mask, UInt64(0)), (m.ignoredMask, ignore)] where mask != 0 {
                let r = try c.session.raw(NR.fanotify_mark, UInt64(f.fd), 0x1 | on | keep | extra, mask, UInt64(bitPattern: Int64(AT_FDCWD)), p)
                guard r == 0 else {
                    throw CheckpointError(Int32(-r), "fd \(f.fd): fanotify mark on \(m.path) (mask \(String(mask, radix: 16))) cannot be made again: \(errorText(Int32(-r)))")
                }
            }
        }
    }

    static func describe(_ f: FileDescriptorState) -> String {
        guard let r = f.fanotify else { return "" }
        return " flags \(String(r.initFlags, radix: 16)), \(r.marks.count) mark\(r.marks.count == 1 ? "" : "s")"
    }

    /// One fdinfo line's `key:value` fields, and the line without its "fanotify " prefix.
    struct Fields {
        var values: [Substring: Substring] = [:]
        var text: String
        subscript(key: Substring) -> Substring? { values[key] }
    }

    static func fields(_ line: Substring) -> Fields {
        var f = Fields(text: String(line.dropFirst("fanotify ".count)))
        for w in line.split(separator: " ").dropFirst() {
            guard let c = w.firstIndex(of: ":") else { continue }
            f.values[w[..<c]] = w[w.index(after: c)...]
        }
        return f
    }

    static func hex(_ s: Substring?) -> UInt64? { s.flatMap { UInt64($0, radix: 16) } }

    /// Mount points from a process's /proc/PID/mountinfo (LinuxKit's MountInfo), by mount id or device.
    struct Mounts {
        let entries: [MountInfo]
        func point(id: UInt64) -> String? { entries.first { UInt64(bitPattern: Int64($0.id)) == id }?.mountPoint }
        func point(major: UInt32, minor: UInt32) -> String? { entries.first { $0.major == major && $0.minor == minor }?.mountPoint }
    }
}
