import CheckpointImage
import Glibc
import LinuxKit

/// What one checkpoint keeps across all its processes, each registry named
/// for the one job it does. Kernel objects shared by several descriptors or
/// processes (a pipe, an unlinked file, a socket) are saved once.
final class DumpContext {
    /// Pipes and FIFOs whose buffered bytes are saved already.
    let pipes = PipeContents()
    /// Objects (device, inode) whose contents are saved already: unlinked
    /// files, memfds, socket queues.
    let contents = FirstSight()
    /// The UNIX sockets of our network namespace and the scope's others, asked of sock_diag once.
    lazy var unixSockets = SockDiagTable("UNIX sockets through sock_diag") { [unowned self] in try self.everyNetNamespace { try UnixSocketDiag.all(netlink: $0) } }
    /// The packet sockets of those namespaces, asked of packet_diag once.
    lazy var packetSockets = SockDiagTable("packet sockets through packet_diag") { [unowned self] in try self.everyNetNamespace { try PacketSocketDiag.all(netlink: $0) } }
    /// A new socket's option values, per family, type and protocol.
    let socketDefaults = SocketDefaults()
    /// Shutdown states of the inet sockets (sock_diag), asked once per family and protocol.
    lazy var inetShutdowns = InetShutdowns(elsewhere: foreignNetPIDs)
    /// TCP sockets the checkpoint put in repair mode.
    let tcpRepairs: TCPRepairHolds
    /// A pre-dump: its image is never restarted (only its pages serve a
    /// later checkpoint), so TCP connections are not read in repair mode,
    /// where a peer still sending made the pre-dump fail.
    var preDump = false
    /// TCP sockets whose incoming segments the checkpoint drops while it reads them.
    let tcpLock = TCPNetworkLock()
    /// Open files shared across fork, and which descriptor carries an open file's locks.
    let openFiles = SharedOpenFiles()
    /// Descriptors that are the checkpointer's, not the program's (the
    /// userfaultfd of write tracking, WriteTracking): never saved.
    var hiddenDescriptors: [pid_t: Int32] = [:]

    /// TUN/TAP devices per network namespace (its /proc/PID/ns/net link), asked once (TunFiles).
    private var tunLinksByNamespace: [[UInt8]: [TunLink]] = [:]

    /// The TUN/TAP devices of `pid`'s network namespace (rtnetlink, inside it when not ours).
    func tunLinks(of pid: pid_t) throws -> [TunLink] {
        let link = try Sys.readLink("/proc/\(pid)/ns/net")
        if let known = tunLinksByNamespace[link] { return known }
        let ours = (try? Sys.readLink("/proc/self/ns/net")) == link
        let found = try TunLinks.all(netlink: ours ? .here : .of(pid))
        tunLinksByNamespace[link] = found
        return found
    }

    /// The processes the checkpoint saves (set once the scope is known).
    var scopePIDs: [pid_t] = []
    /// Per mount namespace of the scope other than ours (by its /proc/PID/ns/mnt
    /// link): a process of it whose root is the namespace's, and its mounts;
    /// read once, for the watched files on no mount of ours and the
    /// namespaces the image saves (MountNamespaces).
    lazy var foreignMounts: [(link: [UInt8], pid: pid_t, mounts: [MountInfo])] = {
        guard let ours = try? Sys.readLink("/proc/self/ns/mnt") else { return [] }
        var found: [(link: [UInt8], pid: pid_t, mounts: [MountInfo])] = []
        for pid in scopePIDs {
            guard let link = try? Sys.readLink("/proc/\(pid)/ns/mnt"), link != ours, !found.contains(where: { $0.link == link }),
                  (try? Sys.readLink("/proc/\(pid)/root")) == Array("/".utf8), let mounts = try? MountInfo.read(pid: pid) else { continue }
            found.append((link, pid, mounts))
        }
        return found
    }()
    /// Inotify watches whose path is in one of those namespaces: (pid, fd, watch number) -> its link.
    var watchNamespaces: [[Int64]: [UInt8]] = [:]
    /// Socket inodes any of those processes holds, read once from /proc.
    lazy var scopeSockets: Set<UInt64> = {
        var inodes: Set<UInt64> = []
        forEachScopeDescriptor { pid, fd in
            guard let link = try? Sys.readLink("/proc/\(pid)/fd/\(fd)") else { return }
            let text = String(decoding: link, as: UTF8.self)
            if text.hasPrefix("socket:["), text.hasSuffix("]"), let inode = UInt64(text.dropFirst(8).dropLast()) { inodes.insert(inode) }
        }
        return inodes
    }()

    /// Pseudo-terminals whose master one of those processes holds (the
    /// index from the master's fdinfo): a slave of one on stdio is the
    /// tree's own terminal (a tmux or sshd pane), not whoever started it.
    lazy var scopePtyMasters: Set<UInt64> = {
        var indexes: Set<UInt64> = []
        forEachScopeDescriptor { pid, fd in
            var st = stat()
            guard stat("/proc/\(pid)/fd/\(fd)", &st) == 0, (st.st_mode & S_IFMT) == S_IFCHR,
                  Device.major(UInt64(st.st_rdev)) == 5, Device.minor(UInt64(st.st_rdev)) == 2,
                  let text = try? Sys.readText("/proc/\(pid)/fdinfo/\(fd)") else { return }
            if let index = ProcStatus(parsing: text).fields["tty-index"].flatMap({ UInt64($0) }) { indexes.insert(index) }
        }
        return indexes
    }()

    /// A process of each network namespace of the scope other than ours:
    /// sock_diag answers for the namespace its netlink socket was made in.
    lazy var foreignNetPIDs: [pid_t] = {
        guard let ours = try? Sys.readLink("/proc/self/ns/net") else { return [] }
        var links: Set<[UInt8]> = [ours]
        return scopePIDs.filter { pid in (try? Sys.readLink("/proc/\(pid)/ns/net")).map { links.insert($0).inserted } ?? false }
    }()

    /// A sock_diag table of our network namespace merged with those of the
    /// scope's others (inodes are unique across namespaces; NetlinkSource
    /// asks inside each). One that cannot be entered is left out: its
    /// sockets are then saved with what the process itself can tell.
    func everyNetNamespace<Info>(_ load: (NetlinkSource) throws -> [UInt64: Info]) throws -> [UInt64: Info] {
        var table = try load(.here)
        for pid in foreignNetPIDs {
            if let theirs = try? load(.of(pid)) { table.merge(theirs) { a, _ in a } }
        }
        return table
    }

    /// Every descriptor number of every process the checkpoint saves.
    private func forEachScopeDescriptor(_ body: (pid_t, Int32) -> Void) {
        for pid in scopePIDs {
            for fd in (try? Sys.numericEntries("/proc/\(pid)/fd")) ?? [] { body(pid, fd) }
        }
    }

    /// `holdRepairs`: a checkpoint that kills its targets keeps their TCP sockets in repair mode to the end.
    init(holdRepairs: Bool) { tcpRepairs = TCPRepairHolds(hold: holdRepairs) }
}

/// True the first time a (device, inode) is asked about.
final class FirstSight {
    private var seen: Set<[UInt64]> = []
    func first(device: UInt64, inode: UInt64) -> Bool { seen.insert([device, inode]).inserted }
}

/// sk_shutdown of inet sockets by inode, one sock_diag dump per (family, protocol).
final class InetShutdowns {
    private var tables: [[Int32]: [UInt64: UInt8]] = [:]
    /// A process of each other network namespace of the scope (DumpContext.foreignNetPIDs).
    private let elsewhere: [pid_t]
    init(elsewhere: [pid_t] = []) { self.elsewhere = elsewhere }

    /// nil where sock_diag cannot tell (no inet_diag for this protocol).
    func of(inode: UInt64, family: Int32, protocol proto: Int32) -> UInt8? {
        let key = [family, proto]
        if tables[key] == nil {
            var table = (try? SockDiag.inetShutdown(family: family, protocol: proto)) ?? [:]
            for pid in elsewhere {
                if let theirs = try? SockDiag.inetShutdown(family: family, protocol: proto, netlink: .of(pid)) { table.merge(theirs) { a, _ in a } }
            }
            tables[key] = table
        }
        return tables[key]?[inode]
    }
}
