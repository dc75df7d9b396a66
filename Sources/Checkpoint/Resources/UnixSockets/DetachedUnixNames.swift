import Glibc
import LinuxKit

/// UNIX names whose socket files the program had removed or replaced after
/// bind. Each is bound again with whatever holds the path now moved aside;
/// once every socket is made (and connected to by name), the new socket
/// file goes and the path's occupant comes back; directories removed since
/// the bind are made again for it and removed again after. A restorer
/// killed in between leaves the occupant under PATH.swiftcr-aside.PID (and
/// such a directory, empty).
final class DetachedUnixNames {
    private var bound: [(path: String, aside: String?, madeDirectories: [String])] = []

    /// Binds `path` with `attempt` (nil on success, else errno).
    func bind(_ path: String, _ attempt: () -> Int32?) throws {
        var aside: String?
        var st = stat()
        if lstat(path, &st) == 0 {
            let name = "\(path).swiftcr-aside.\(getpid())"
            guard rename(path, name) == 0 else { throw CheckpointError(errno: errno, "moving \(path) aside to bind a removed socket name again") }
            aside = name
        }
        var made: [String] = []
        var err = attempt()
        if err == ENOENT {
            // The directory went too (removed after the bind): made again for
            // the bind, removed again with the socket file.
            made = Self.makeMissingDirectories(above: path)
            err = made.isEmpty ? err : attempt()
        }
        if let err {
            for d in made.reversed() { _ = rmdir(d) }
            if let aside { _ = rename(aside, path) }
            throw CheckpointError(errno: err, "cannot bind UNIX socket \(path) again")
        }
        bound.append((path, aside, made))
    }

    /// The socket files made here go, the paths' occupants come back (last bound first).
    func finish() {
        for (path, aside, made) in bound.reversed() {
            _ = unlink(path)
            if let aside { _ = rename(aside, path) }
            for d in made.reversed() { _ = rmdir(d) }
        }
        bound = []
    }

    /// Makes the directories missing on the way to `path` (owner only),
    /// outermost first; the ones made, in that order.
    static func makeMissingDirectories(above path: String) -> [String] {
        var missing: [String] = []
        var dir = parent(of: path)
        var st = stat()
        while let d = dir, lstat(d, &st) != 0 && errno == ENOENT {
            missing.append(d)
            dir = parent(of: d)
        }
        var made: [String] = []
        for d in missing.reversed() {
            guard mkdir(d, 0o700) == 0 else { break }
            made.append(d)
        }
        return made
    }

    /// "/a/b" for "/a/b/c"; nil at the root or for a bare name.
    static func parent(of path: String) -> String? {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return nil }
        return String(path[..<slash])
    }
}
