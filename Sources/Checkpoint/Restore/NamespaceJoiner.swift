import CheckpointImage
import Glibc
import LinuxKit

/// The image's namespaces of one kind (cgroup, UTS) made again in the
/// stubs. A stub is born in its parent's (a stub the restorer spawned: in
/// ours). The first process of a namespace makes it: `before` runs, then
/// unshare is injected in its stub, then `after` fills the new namespace;
/// later processes join it by setns through a descriptor the restorer holds
/// (opened again in the stub as /proc/<restorer>/fd/N).
final class NamespaceJoiner {
    let kind: String
    let flag: UInt64
    private var made: [Int: Int32] = [:]
    private let ours: Int32

    init(kind: String, flag: UInt64) {
        self.kind = kind
        self.flag = flag
        ours = open("/proc/self/ns/\(kind)", O_RDONLY | O_CLOEXEC)
    }

    deinit {
        for fd in made.values { close(fd) }
        if ours >= 0 { close(ours) }
    }

    /// The descriptor of namespace `index` once a stub made it.
    func descriptor(of index: Int) -> Int32? { made[index] }

    /// Per process: the user namespace (a descriptor of the restorer's) its
    /// namespace of this kind belongs to; made inside it, then joined.
    var owners: [pid_t: Int32] = [:]

    /// Puts the stub in namespace `wanted` (1-based; 0: ours); returns it.
    func enter(_ wanted: Int, who: pid_t, stub: pid_t, session: RemoteSession, bornIn: Int,
               before: () throws -> Void = {}, after: () throws -> Void = {}) throws -> Int {
        guard wanted != bornIn else { return wanted }
        if wanted != 0 && made[wanted] == nil, let owner = owners[who] {
            try before()
            made[wanted] = try UserNamespaceFactory.make(kind: kind, flag: flag, inside: owner)
            _ = try enter(wanted, who: who, stub: stub, session: session, bornIn: bornIn)
            try after()
            return wanted
        }
        if let fd = wanted == 0 ? ours : made[wanted] {
            let opened = try session.raw(NR.openat, UInt64(bitPattern: Int64(AT_FDCWD)), try session.putString("/proc/\(getpid())/fd/\(fd)"), UInt64(O_RDONLY | O_CLOEXEC), 0)
            guard opened >= 0 else { throw CheckpointError(errno: Int32(-opened), "process \(who): opening its \(kind) namespace") }
            let r = try session.raw(NR.setns, UInt64(opened), flag)
            _ = try session.raw(NR.close, UInt64(opened))
            guard r == 0 else { throw CheckpointError(errno: Int32(-r), "process \(who): joining its \(kind) namespace") }
            return wanted
        }
        try before()
        let r = try session.raw(NR.unshare, flag)
        guard r == 0 else { throw CheckpointError(errno: Int32(-r), "process \(who): making its \(kind) namespace") }
        let fd = open("/proc/\(stub)/ns/\(kind)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno: errno, "process \(who): its new \(kind) namespace") }
        made[wanted] = fd
        try after()
        return wanted
    }
}

/// The image's UTS namespaces: each made with its host and domain names.
final class UTSNamespaceFactory {
    let namespaces: [UTSNamespaceState]
    private let joiner = NamespaceJoiner(kind: "uts", flag: CloneFlags.newUTS)
    private(set) var warnings: [String] = []

    init?(namespaces: [UTSNamespaceState]) {
        guard !namespaces.isEmpty else { return nil }
        self.namespaces = namespaces
    }

    /// Processes whose UTS namespace belongs to their user namespace (NamespaceJoiner.owners).
    func makeInside(_ owners: [pid_t: Int32]) { joiner.owners = owners }

    /// Returns the stub's namespace now; one that cannot be made or joined
    /// (a user's restart without a user namespace of its own) leaves the
    /// process in the one it was born in, with a warning.
    func place(_ p: ProcessState, stub: pid_t, session: RemoteSession, bornIn: Int) throws -> Int {
        guard p.utsNamespace <= namespaces.count else {
            throw CheckpointError(EINVAL, "process \(p.pid): UTS namespace \(p.utsNamespace) of an image that has \(namespaces.count)")
        }
        do {
            return try joiner.enter(p.utsNamespace, who: p.pid, stub: stub, session: session, bornIn: bornIn, after: {
                let ns = namespaces[p.utsNamespace - 1]
                for (call, name, what) in [(NR.sethostname, ns.hostname, "sethostname"), (NR.setdomainname, ns.domainname, "setdomainname")] {
                    let bytes = Array(name.utf8)
                    try session.call(what, call, try session.put(bytes + [0]), UInt64(bytes.count))
                }
            })
        } catch let e as CheckpointError where e.code == EPERM {
            warnings.append("process \(p.pid): its UTS namespace (host name \(namespaces[max(p.utsNamespace, 1) - 1].hostname)) could not be made here (\(e.message)); it has cr_restart's host name")
            return bornIn
        }
    }
}
