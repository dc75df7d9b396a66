import Glibc
import LinuxKit

/// UNIX names whose socket files the program had removed or replaced after
/// bind. Each is bound again with whatever holds the path now moved aside;
/// once every socket is made (and connected to by name), the new socket
/// file goes and the path's occupant comes back. A restorer killed in
/// between leaves the occupant under PATH.swiftcr-aside.PID.
final class DetachedUnixNames {
    private var bound: [(path: String, aside: String?)] = []

    /// Binds `path` with `attempt` (nil on success, else errno).
    func bind(_ path: String, _ attempt: () -> Int32?) throws {
        var aside: String?
        var st = stat()
        if lstat(path, &st) == 0 {
            let name = "\(path).swiftcr-aside.\(getpid())"
            guard rename(path, name) == 0 else { throw CheckpointError(errno: errno, "moving \(path) aside to bind a removed socket name again") }
            aside = name
        }
        if let err = attempt() {
            if let aside { _ = rename(aside, path) }
            throw CheckpointError(errno: err, "cannot bind UNIX socket \(path) again")
        }
        bound.append((path, aside))
    }

    /// The socket files made here go, the paths' occupants come back (last bound first).
    func finish() {
        for (path, aside) in bound.reversed() {
            _ = unlink(path)
            if let aside { _ = rename(aside, path) }
        }
        bound = []
    }
}
