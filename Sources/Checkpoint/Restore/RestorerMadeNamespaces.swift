import CheckpointImage
import Glibc
import LinuxKit

/// The image's namespaces whose objects the restorer makes itself (IPC:
/// SysV objects; network: sockets). The first stub of a namespace makes it
/// (unshare, in the stub's user namespace, where a user's restart has the
/// capability), later stubs join it by setns; the restorer makes the
/// namespace's objects from inside it (`within`: setns changes only the
/// calling thread, and the restorer owns the stubs' user namespace); the
/// stub that made one fills it (`setUp`, injected). Where a stub cannot make one (a user's
/// restart without a user namespace of its own) the process stays in the
/// namespace it was born in, with its objects, and a warning says so.
final class RestorerMadeNamespaces {
    let kind: String
    let flag: UInt64
    private let what: String
    private let setUp: (Int, RemoteSession) throws -> Void
    fileprivate let joiner: NamespaceJoiner
    fileprivate let ours: Int32
    /// The namespace the restoring thread is in now (see `within`).
    private var current = 0
    private(set) var warnings: [String] = []

    init?(kind: String, flag: UInt64, count: Int, what: String, setUp: @escaping (Int, RemoteSession) throws -> Void = { _, _ in }) {
        guard count > 0 else { return nil }
        self.kind = kind
        self.flag = flag
        self.what = what
        self.setUp = setUp
        joiner = NamespaceJoiner(kind: kind, flag: flag)
        ours = open("/proc/thread-self/ns/\(kind)", O_RDONLY | O_CLOEXEC)
    }

    deinit { if ours >= 0 { close(ours) } }

    /// Moves a new stub into namespace `wanted` (making it, if it is the
    /// first); returns where it is now.
    func place(_ wanted: Int, who: pid_t, stub: pid_t, session: RemoteSession, bornIn: Int) throws -> Int {
        do {
            return try joiner.enter(wanted, who: who, stub: stub, session: session, bornIn: bornIn, after: {
                do { try setUp(wanted, session) } catch { warnings.append("\(what) \(wanted): \(error)") }
            })
        } catch let e as CheckpointError where e.code == EPERM {
            warnings.append("process \(who): its \(what) could not be made here (\(e.message)); it is in cr_restart's")
            return bornIn
        }
    }

    /// Runs `body` with this thread in namespace `ns` (0 or one not made:
    /// ours). A user's restorer may enter the namespaces its stubs made but
    /// not come back to ours (its owner is the init user namespace): then
    /// the thread stays where it is, and a later call for ours fails in one
    /// line instead of making objects in the wrong namespace (the restore
    /// does ours first: Restorer).
    func within<T>(_ ns: Int, _ body: () throws -> T) throws -> T {
        let target = ns != 0 && joiner.descriptor(of: ns) != nil ? ns : 0
        // Nested (a socket of another namespace than its process's): back to the outer one after.
        let previous = current
        if target != current {
            let fd = target == 0 ? ours : (joiner.descriptor(of: target) ?? ours)
            guard Syscall.raw(NR.setns, Int(fd), Int(flag)) == 0 else {
                throw CheckpointError(errno: errno, target == 0 ? "returning to cr_restart's \(kind) namespace" : "entering \(kind) namespace \(target) of the image")
            }
            current = target
        }
        defer {
            if current != previous, Syscall.raw(NR.setns, Int(previous == 0 ? ours : (joiner.descriptor(of: previous) ?? ours)), Int(flag)) == 0 {
                current = previous
            }
        }
        return try body()
    }

    /// A restored network namespace's loopback brought up by the stub that
    /// made it (SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP, injected).
    static func loopbackUp(in session: RemoteSession) throws {
        let s = try session.call("socket(loopback)", NR.socket, UInt64(AF_INET), UInt64(Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)), 0)
        defer { _ = try? session.close(s) }
        var request = [UInt8](repeating: 0, count: 40)  // struct ifreq: name[16], then ifr_flags (short)
        request.replaceSubrange(0..<2, with: Array("lo".utf8))
        let at = try session.put(request)
        try session.call("ioctl(SIOCGIFFLAGS)", NR.ioctl, s, 0x8913, at)
        var flags = try session.memory.read(address: at + 16, count: 2)
        flags[0] |= 1  // IFF_UP
        try session.memory.write(address: at + 16, bytes: flags)
        try session.call("ioctl(SIOCSIFFLAGS)", NR.ioctl, s, 0x8914, at)
    }
}

extension RestorerMadeNamespaces {
    /// The restorer's descriptor of namespace `k` it made, and of its own.
    func descriptor(of k: Int) -> Int32? { joiner.descriptor(of: k) }
    /// Processes whose namespace of this kind belongs to their user namespace (NamespaceJoiner.owners).
    func makeInside(_ owners: [pid_t: Int32]) { joiner.owners = owners }
    var ownDescriptor: Int32 { ours }
}
