import CheckpointImage
import Glibc
import LinuxKit
import Logging

/// Reinstalls the image's file descriptors in the stub at their numbers,
/// each made by its kind (Resources/, FileKinds). The stub starts with the
/// restorer's descriptors; 0, 1 and 2 are kept aside for descriptors that
/// were the process's terminal or pipes to the outside. What every
/// descriptor has is done here: dups, open files shared across fork, locks.
struct FileRestorer {
    let session: RemoteSession
    let process: ProcessState
    let log: Logger
    let objects: SharedFileObjects

    /// How one descriptor comes back, decided from the image alone.
    enum Step {
        /// A dup of an earlier descriptor of this process (one open file description).
        case dup(Int32)
        /// Inherited across fork: the very open file of a process restored earlier.
        case borrow(pid_t, Int32)
        /// Made by its kind.
        case make(any FileKind.Type)
    }

    static func step(for f: FileDescriptorState, among files: [FileDescriptorState]) -> Step {
        if f.sharesWith != f.fd, files.contains(where: { $0.fd == f.sharesWith }) { return .dup(f.sharesWith) }
        if f.sameAs.count == 2 { return .borrow(pid_t(truncatingIfNeeded: f.sameAs[0]), Int32(truncatingIfNeeded: f.sameAs[1])) }
        return .make(FileKinds.restorer(for: f.kind))
    }

    func restore() throws -> [String] {
        // The restorer's own descriptors go on numbers the process does not
        // use, epoll watch numbers included (a watch is added again under its
        // number, which may name no descriptor now), under the open-file limit.
        let watched = process.files.flatMap { $0.epoll?.watches.map(\.fd) ?? [] }.filter { $0 < 1 << 20 }
        let numbers = process.files.map { UInt64($0.fd) }
        let highest = max(numbers.max() ?? 2, watched.max() ?? 0)
        // Nothing of the restorer's may leak into the restored process.
        try session.call("close_range", NR.close_range, 3, UInt64(UInt32.max), 0)
        let limit = try openFileLimit(covering: highest)
        guard let parked = DescriptorParking.slots(4, used: Set(numbers + watched), highest: highest, limit: limit) else {
            throw CheckpointError(EMFILE, "process \(process.pid): no descriptor number is free under the open-file limit \(limit) for the restorer's own")
        }
        let courier = FDCourier(session: session, parkAt: parked[3])
        defer { try? courier.close() }
        var stdio: [Int32: UInt64] = [:]
        for k: Int32 in 0...2 {
            if try session.raw(NR.dup3, UInt64(k), parked[Int(k)], 0) >= 0 { stdio[k] = parked[Int(k)] }
            _ = try session.raw(NR.close, UInt64(k))
        }
        let c = FileRestoreContext(session: session, process: process, objects: objects, courier: courier, stdio: stdio, log: log)
        // Descriptors whose file could not be made again (a warning says why) close in every sharer.
        let me = process.pid
        for f in process.files.sorted(by: { $0.fd < $1.fd }) {
            if f.sharesWith != f.fd, process.files.contains(where: { $0.fd == f.sharesWith }) {
                if objects.isClosed(pid: me, fd: f.sharesWith) {
                    c.warn("fd \(f.fd): the same open file as fd \(f.sharesWith), which is closed; closed too")
                    try holdNumber(f, in: c, courier: courier)
                    continue
                }
                try session.dup3(UInt64(f.sharesWith), to: f.fd, cloexec: f.closeOnExec, what: "fd \(f.sharesWith) -> \(f.fd)")
                continue
            }
            if f.sameAs.count == 2 {
                // Inherited across fork: the same open file as in the process restored earlier.
                let (owner, ownerFD) = (pid_t(truncatingIfNeeded: f.sameAs[0]), Int32(truncatingIfNeeded: f.sameAs[1]))
                if objects.isClosed(pid: owner, fd: ownerFD) {
                    c.warn("fd \(f.fd): the same open file as fd \(ownerFD) of process \(owner), which is closed; closed too")
                    try holdNumber(f, in: c, courier: courier)
                    continue
                }
                let ours = try objects.borrow(pid: owner, fd: ownerFD)
                try c.install(try courier.deliver(ours), as: f, closeOnExecNow: true)
                continue
            }
            switch try FileKinds.restorer(for: f.kind).restore(f, in: c) {
            case .remote(let fd): try c.install(fd, as: f)
            case .local(let ours): try c.install(try courier.deliver(ours), as: f, closeOnExecNow: true)
            case .inPlace: break
            case .closed(let why):
                c.warn(why)
                try holdNumber(f, in: c, courier: courier)
            }
        }
        for f in process.files { try FileKinds.restorer(for: f.kind).finish(f, in: c) }
        try LockRestorer(session: session).restore(process.files)
        for w in try OpenFileAttributes.restore(process.files, session: session, innerIDs: objects.innerIDs) { c.warn(w) }
        try InFlightFiles.handOver(process.files, in: c)
        try PacketSockets.mapRings(process, in: c)
        for fd in stdio.values where !process.files.contains(where: { UInt64($0.fd) == fd }) {
            _ = try session.raw(NR.close, fd)
        }
        return c.warnings
    }

    /// A descriptor not made again: closed for the program, its number held
    /// (NumberHolder) so that no file it opens later is taken for this one.
    private func holdNumber(_ f: FileDescriptorState, in c: FileRestoreContext, courier: FDCourier) throws {
        objects.noteClosed(pid: process.pid, fd: f.fd)
        guard let ours = NumberHolder.make(for: f.fd) else { return }
        defer { close(ours) }
        try c.install(try courier.deliver(ours), as: f, closeOnExecNow: true)
    }

    /// The stub's open-file soft limit, raised first (up to its hard limit,
    /// which anyone may) where the process has a descriptor at or above it:
    /// its own limit comes back later, with the others. One beyond the hard
    /// limit cannot be made: said in one line.
    private func openFileLimit(covering highest: UInt64) throws -> UInt64 {
        let at = 2048
        let address = try session.put(value: rlimit(), at: at)
        try session.call("prlimit64(RLIMIT_NOFILE)", NR.prlimit64, 0, UInt64(RLIMIT_NOFILE.rawValue), 0, address)
        var limit = try session.get(rlimit.self, at: at)
        guard highest >= UInt64(limit.rlim_cur) else { return UInt64(limit.rlim_cur) }
        guard highest < UInt64(limit.rlim_max) else {
            throw CheckpointError(EMFILE, "process \(process.pid): fd \(highest) is beyond this restart's open-file limit (hard \(limit.rlim_max)); raise it (ulimit -Hn) and restart again")
        }
        // Room above the highest for the restorer's own descriptors where the hard limit allows.
        limit.rlim_cur = min(limit.rlim_max, rlim_t(highest + 64))
        try session.call("prlimit64(RLIMIT_NOFILE)", NR.prlimit64, 0, UInt64(RLIMIT_NOFILE.rawValue), try session.put(value: limit, at: at), 0)
        return UInt64(limit.rlim_cur)
    }
}
