import CheckpointImage
import Glibc
import LinuxKit

/// The tree's time namespace made again (TreeState.timeOffsets). A process
/// is born in its parent's time_for_children, so each stub, once made,
/// points the namespace its children will be born in where the image says:
/// the first one that needs the tree's namespace makes it (unshare, then
/// the offsets written before anyone is born in it), later ones join it
/// (setns through a descriptor the restorer holds).
final class TimeNamespaceFactory {
    let offsets: [Int64]
    /// The restorer's own time namespace, and the tree's once made: descriptors
    /// stubs open again through /proc/<restorer>/fd/N.
    private let ours: Int32
    private var theirs: Int32 = -1
    private(set) var warnings: [String] = []

    /// nil when the image has no time namespace of its own.
    init?(offsets: [Int64]?) {
        guard let offsets, offsets.count == 4 else { return nil }
        self.offsets = offsets
        ours = open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC)
    }

    deinit {
        if ours >= 0 { close(ours) }
        if theirs >= 0 { close(theirs) }
    }

    /// For a root that lived in the namespace: the restorer's children are born there.
    func enterForRestorerChildren() throws {
        guard theirs < 0 else { return }
        if case .failure(let e) = Syscall.unshare(CloneFlags.newTime) {
            throw CheckpointError(e.rawValue, "cannot create a time namespace for the image's: \(e)")
        }
        try setOffsets(of: getpid())
        theirs = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC)
    }

    /// Points where the children of the stub behind `session` are born: the
    /// tree's namespace or the restorer's. Returns where they are born now.
    func placeChildren(inside: Bool, of session: RemoteSession, stub: pid_t, who: pid_t) throws -> Bool {
        if inside && theirs < 0 {
            let r = try session.raw(NR.unshare, CloneFlags.newTime)
            guard r == 0 else {
                warnings.append("process \(who): a time namespace could not be made for its children (\(errorText(Int32(-r)))); they use the restorer's clocks")
                return false
            }
            try setOffsets(of: stub)
            theirs = open("/proc/\(stub)/ns/time_for_children", O_RDONLY | O_CLOEXEC)
            return true
        }
        let fd = inside ? theirs : ours
        guard fd >= 0 else { return !inside }
        let opened = try session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), try session.putString("/proc/\(getpid())/fd/\(fd)"), UInt64(O_RDONLY | O_CLOEXEC), 0)
        guard opened >= 0 else {
            warnings.append("process \(who): the time namespace for its children could not be opened (\(errorText(Int32(-opened))))")
            return !inside
        }
        let r = try session.raw(NR.setns, UInt64(opened), CloneFlags.newTime)
        _ = try session.raw(NR.close, UInt64(opened))
        guard r == 0 else {
            warnings.append("process \(who): its children could not be put in \(inside ? "the image's" : "the restorer's") time namespace (\(errorText(Int32(-r))))")
            return !inside
        }
        return inside
    }

    /// Offsets may be written only before anyone is born in the namespace.
    private func setOffsets(of pid: pid_t) throws {
        let path = "/proc/\(pid)/timens_offsets"
        for (clock, seconds, nanoseconds) in [(CLOCK_MONOTONIC, offsets[0], offsets[1]), (CLOCK_BOOTTIME, offsets[2], offsets[3])] {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CheckpointError(errno: errno, "open \(path)") }
            defer { close(fd) }
            let line = "\(clock) \(seconds) \(nanoseconds)"
            guard line.withCString({ write(fd, $0, strlen($0)) }) == line.utf8.count else {
                throw CheckpointError(errno: errno, "writing the image's time offsets to \(path)")
            }
        }
    }
}
