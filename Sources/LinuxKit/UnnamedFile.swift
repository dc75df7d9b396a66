import CLinux
import Glibc

/// A file with no name until it is complete (open O_TMPFILE, later linkat
/// through /proc/self/fd): a writer killed half way leaves nothing behind.
public enum UnnamedFile {
    /// Opens a nameless regular file in `directory`, for reading and writing
    /// (so the writer can read back what it wrote); nil where the file
    /// system cannot (then the caller uses a named temporary).
    public static func open(in directory: String, mode: mode_t) -> Int32? {
        let fd = Glibc.open(directory, Int32(CL_O_TMPFILE) | O_RDWR | O_CLOEXEC, mode)
        return fd >= 0 ? fd : nil
    }

    /// Gives the file the name `path` (which must not exist).
    public static func link(_ fd: Int32, to path: String) throws {
        let r = linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, path, AT_SYMLINK_FOLLOW)
        if r != 0 { throw SystemCallError("linkat(\(path))", currentErrno()) }
    }

    /// A path that reads the file while it has no name.
    public static func procPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }
}
