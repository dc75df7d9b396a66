import CheckpointImage
import Glibc
import LinuxKit

/// An inotify instance: each watch saved with the path of what it watches
/// (InotifyWatches) and made again with its old number.
enum InotifyInstances: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.inotify]

    static func claims(_ d: OpenDescriptor) -> Bool { d.link == "anon_inode:inotify" }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .inotify
        let places = ["/proc/\(d.pid)/cwd", "/proc/\(d.pid)/exe"].compactMap { try? String(decoding: Sys.readLink($0), as: UTF8.self) }
            + context.descriptors.map(\.link).filter { $0.hasPrefix("/") }
        let shared = context.shared
        state.payload = .inotify(InotifyWatches.record(fd: d.fd, fdinfo: d.fdinfo, places: places, removed: context.removedFilesHeld(for: d),
                                                       elsewhere: { shared.foreignMounts },
                                                       foundIn: { shared.watchNamespaces[[Int64(d.pid), Int64(d.fd), Int64($0)]] = $1 },
                                                       warn: context.warn))
        // No call puts events into a group: those waiting stay the live process's, and are lost to the restart.
        context.warnOfUnreadEvents(d, "inotify")
    }

    /// inotify_init1 (non-blocking while set up, so the IN_IGNORED events
    /// of the numbering below can be drained); the watches once every other
    /// descriptor is back (a removed file is watched through its holder's).
    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        .remote(try c.session.call("inotify_init1", NR.inotify_init1, UInt64(O_NONBLOCK)))
    }

    /// Each watch by path with its old number: the kernel hands out watch
    /// numbers upwards, so removing and adding again steps the next one
    /// forward until it is the wanted one.
    static func finish(_ f: FileDescriptorState, in c: FileRestoreContext) throws {
        // Once per open file: not again for a duplicate, nor for one handed over from a parent.
        let duplicate = f.sharesWith != f.fd && c.process.files.contains { $0.fd == f.sharesWith }
        guard f.sameAs.isEmpty, !duplicate, let record = f.inotify else { return }
        let session = c.session
        let fd = UInt64(f.fd)
        for w in record.watches {
            let wd = Int64(w.wd)
            // A path of another namespace is reached through a stub of it (SharedFileObjects.mountRoot).
            let elsewhere = w.mountNamespace.flatMap { ns in
                ns == c.process.mountNamespace ? nil : ns == 0 ? "/proc/\(getpid())/root" : c.objects.mountRoot(of: ns)
            } ?? ""
            let p = try session.putString(w.heldBy.map { "/proc/self/fd/\($0)" } ?? elsewhere + w.path)
            var got = try session.raw(NR.inotify_add_watch, fd, p, w.mask)
            var steps = 0
            while got > 0 && got < wd && steps < 65536 {
                _ = try session.raw(NR.inotify_rm_watch, fd, UInt64(got))
                got = try session.raw(NR.inotify_add_watch, fd, p, w.mask)
                steps += 1
            }
            if got < 0 && w.heldBy == nil && w.path.hasSuffix(" (deleted)") {
                c.warn("fd \(f.fd): inotify watch \(wd) on \(w.path) is dropped: the file was removed and nothing holds it")
                continue
            }
            guard got == wd else {
                let why = got < 0 ? errorText(Int32(-got)) : "it came back as watch \(got)"
                throw CheckpointError(got < 0 ? Int32(-got) : EEXIST, "fd \(f.fd): inotify watch \(wd) on \(w.path) cannot be made again: \(why)")
            }
        }
        let buffer = try session.put([UInt8](repeating: 0, count: 4096), at: 8192)
        var drained = 0
        while drained < 4096, try session.raw(NR.read, fd, buffer, 4096) > 0 { drained += 1 }
        try session.fcntl(fd, F_SETFL, UInt64(f.flags) & UInt64(O_NONBLOCK), what: "F_SETFL")
    }
}
