import Glibc

/// A directory made for a moment to stand for one that was removed while
/// in use (a working directory or an open descriptor), with the removed
/// one's mode and owner: a process restarted by root would otherwise hold a
/// root-owned 0700 directory it may not even stat "." in.
enum StandInDirectory {
    /// Makes `original` if it is free, else a fresh directory under /tmp,
    /// owned as `attributes` say (mode, uid, gid; empty: the restorer's).
    /// nil, with errno set: nothing could be made.
    static func make(at original: String, attributes: [UInt64]) -> String? {
        let made: String
        if mkdir(original, 0o700) == 0 {
            made = original
        } else {
            var template = Array("/tmp/swiftcr-deleted-dir.XXXXXX".utf8CString)
            guard let p = mkdtemp(&template) else { return nil }
            made = String(cString: p)
        }
        own(made, attributes)
        return made
    }

    /// Gives a directory just made the removed one's owner and group.
    static func own(_ path: String, _ attributes: [UInt64]) {
        guard attributes.count == 3 else { return }
        // A user's restorer cannot give its files away: the directory stays its own, which is that user's.
        _ = chown(path, uid_t(truncatingIfNeeded: attributes[1]), gid_t(truncatingIfNeeded: attributes[2]))
    }

    /// Once the process holds it: the removed one's mode (after, so that a
    /// mode without search or read permission does not stop the stub), then
    /// the name goes.
    static func remove(_ path: String, _ attributes: [UInt64]) {
        if attributes.count == 3 { _ = chmod(path, mode_t(truncatingIfNeeded: attributes[0])) }
        rmdir(path)
    }

    /// Mode, uid and gid of a directory held at `path` (a /proc link), for the image.
    static func attributes(of path: String) -> [UInt64] {
        var st = stat()
        guard stat(path, &st) == 0 else { return [] }
        return [UInt64(st.st_mode & 0o7777), UInt64(st.st_uid), UInt64(st.st_gid)]
    }
}
