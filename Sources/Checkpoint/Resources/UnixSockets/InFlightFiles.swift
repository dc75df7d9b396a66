import CheckpointImage
import Glibc
import LinuxKit

/// Descriptors in flight: sent with SCM_RIGHTS and still waiting in a UNIX
/// socket's queue. Peeking the queue gives us a copy of each; it is saved
/// as a file of the process that holds the socket, under a number above
/// all of that process's own (`inFlight` set). At restart it is made like
/// any other file, then taken back by the restorer, and the process's copy
/// closed; once every socket exists its message is sent again with it.
final class InFlightFiles {
    /// The first number handed out (above the process's highest descriptor).
    let base: Int32
    /// Our copies, in the order their numbers were given. Nil: this context
    /// describes in-flight files itself, and files in flight inside those are not followed.
    private var held: [Int32]?

    init(base: Int32, follows: Bool = true) {
        self.base = base
        held = follows ? [] : nil
    }

    /// The number of the in-flight file behind our descriptor `ours`, which is kept until `close`.
    func take(_ ours: Int32) -> Int32? {
        guard held != nil else {
            Glibc.close(ours)
            return nil
        }
        held?.append(ours)
        return base + Int32((held?.count ?? 1) - 1)
    }

    func close() {
        for fd in held ?? [] { Glibc.close(fd) }
        held = held.map { _ in [] }
    }

    /// The saved form of every file taken, after the process's own
    /// descriptors are collected: the same open file as one of those (or
    /// as one taken earlier) is saved as its dup, the rest by their kinds.
    func describe(in context: FileDumpContext) throws -> [FileDescriptorState] {
        guard let held, !held.isEmpty else { return [] }
        let me = getpid()
        var ownIndex = OpenFileIndex(pid: me)
        var states: [FileDescriptorState] = []
        let ownDescriptors = try held.compactMap { try FileCollector.openDescriptor(pid: me, fd: $0) }
        let own = FileDumpContext(pid: me, shared: context.shared, log: context.log, descriptors: ownDescriptors,
                                  inFlight: InFlightFiles(base: 0, follows: false))
        for (k, ours) in held.enumerated() {
            let number = base + Int32(k)
            guard let d = ownDescriptors.first(where: { $0.fd == ours }) else {
                context.warn("a descriptor in flight in a socket queue could not be read; it is lost")
                continue
            }
            let key = [d.device, d.inode, UInt64(d.st.st_rdev)]
            var state: FileDescriptorState
            if let mine = context.descriptors.first(where: { [$0.device, $0.inode, UInt64($0.st.st_rdev)] == key && SharedOpenFiles.same(me, ours, context.pid, $0.fd) }),
               let first = context.collected.first(where: { $0.fd == mine.fd }) {
                state = Self.dup(of: first, as: number)
            } else if let earlier = ownIndex.first(sameAs: ours, inode: key), let j = held.firstIndex(of: earlier),
                      let first = states.first(where: { $0.fd == base + Int32(j) }) {
                state = Self.dup(of: first, as: number)
            } else {
                state = FileDescriptorState(
                    fd: number, kind: .unsupported, path: d.link, flags: d.info.flags & ~UInt32(O_CLOEXEC), closeOnExec: false,
                    offset: d.info.position, device: d.device, inode: d.inode, sharesWith: number,
                    fileSize: d.mode == S_IFREG ? UInt64(d.st.st_size) : 0)
                try FileKinds.claimant(of: d).collect(d, into: &state, in: own)
                state.sharesWith = number
            }
            state.inFlight = true
            states.append(state)
        }
        for w in own.warnings { context.warn("in flight: \(w)") }
        return states
    }

    /// A second reference to an open file saved already: made as a dup of it.
    private static func dup(of first: FileDescriptorState, as number: Int32) -> FileDescriptorState {
        var state = FileDescriptorState(fd: number, kind: first.kind, path: first.path, flags: first.flags, closeOnExec: false,
                                        offset: first.offset, device: first.device, inode: first.inode, sharesWith: first.sharesWith,
                                        fileSize: first.fileSize)
        // What describes the object, without the data saved with the first.
        state.payload = first.payload
        if case .unixSocket(var r) = first.payload {
            (r.queued, r.passed, r.senders) = ([], [], [])
            state.payload = .unixSocket(r)
        }
        return state
    }

    /// Restart, once the process's files are all back: the restorer takes
    /// its own copy of each in-flight file and the process's is closed.
    static func handOver(_ files: [FileDescriptorState], in c: FileRestoreContext) throws {
        for f in files where f.inFlight {
            let ours = try c.objects.borrow(pid: c.process.pid, fd: f.fd)
            c.objects.sockets.inFlight[[UInt64(c.process.pid), UInt64(f.fd)]] = ours
            try c.session.close(UInt64(f.fd))
        }
    }
}
