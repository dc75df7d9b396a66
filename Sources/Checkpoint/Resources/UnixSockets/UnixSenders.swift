import CheckpointImage
import Glibc
import LinuxKit

/// Sockets that send a requeued datagram under the name its sender had,
/// so the reader's recvfrom names that sender again (a server answers its
/// client by it). A socket of the image bound to that name sends it (made
/// now if not yet); a name nobody holds any more is bound by a socket of
/// ours for the sends, then let go: an abstract name simply, a path name
/// only where nothing is at that path (the socket file is removed after).
/// A name that cannot be had leaves those datagrams unnamed (`unnamed`).
final class UnixSenders {
    private let factory: SocketFactory
    private let receiver: FileDescriptorState
    private var sockets: [[UInt8]: Int32] = [:]
    private var ours: [Int32] = []
    /// The socket files our binds made: path, device and inode.
    private var files: [(path: String, device: UInt64, inode: UInt64)] = []
    /// Names that could not be had, as described.
    private(set) var unnamed: Set<String> = []

    init(factory: SocketFactory, receiver: FileDescriptorState) {
        self.factory = factory
        self.receiver = receiver
    }

    /// A socket bound to `name`, or nil.
    func socket(named name: [UInt8]) throws -> Int32? {
        if let fd = sockets[name] { return fd }
        let fd = try imageSocket(named: name) ?? bound(to: name)
        if let fd { sockets[name] = fd } else { unnamed.insert(factory.describe(name)) }
        return fd
    }

    /// The image's datagram socket bound to this name in the receiver's mount namespace.
    private func imageSocket(named name: [UInt8]) throws -> Int32? {
        let space = factory.namespaceOf[receiver.inode]
        guard let holder = factory.byInode.values.first(where: {
            $0.inode != receiver.inode && $0.unixSocket?.address == name && $0.unixSocket?.type == UInt64(SOCK_DGRAM.rawValue)
                && factory.namespaceOf[$0.inode] == space
        }) else { return nil }
        switch try factory.socket(for: holder) {
        case .socket(let fd), .socketWithWarning(let fd, _): return fd
        case .closed: return nil
        }
    }

    /// A socket of ours bound to a name no one holds now.
    private func bound(to name: [UInt8]) -> Int32? {
        let pathName = name.first != 0
        // A path in another mount namespace is not ours to make files in.
        if pathName && factory.namespaceOf[receiver.inode] != nil { return nil }
        guard let (address, length) = factory.unixAddress(name, cwd: factory.cwdOf[receiver.inode]) else { return nil }
        let path = pathName ? String(decoding: withUnsafeBytes(of: address.sun_path) { Array($0.prefix { $0 != 0 }) }, as: UTF8.self) : ""
        var st = stat()
        if pathName && lstat(path, &st) == 0 { return nil }  // something is there
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var a = address
        let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) } }
        guard r == 0 else {
            Glibc.close(fd)
            return nil
        }
        ours.append(fd)
        if pathName, lstat(path, &st) == 0 { files.append((path, UInt64(st.st_dev), UInt64(st.st_ino))) }
        return fd
    }

    /// Our own sockets closed, their files removed (the image's stay; and
    /// whatever took a path's place since is left alone).
    func close() {
        for fd in ours { Glibc.close(fd) }
        for f in files {
            var st = stat()
            guard lstat(f.path, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK,
                  UInt64(st.st_dev) == f.device, UInt64(st.st_ino) == f.inode else { continue }
            unlink(f.path)
        }
        ours = []
        files = []
    }
}
