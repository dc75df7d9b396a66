import CLinux
import Glibc
import SystemPackage

/// A failed system call: which call, on what, and the kernel's errno.
public struct SystemCallError: Error, CustomStringConvertible, Equatable {
    public var call: String
    public var errno: Errno
    public init(_ call: String, _ errno: Errno) {
        self.call = call
        self.errno = errno
    }
    public var description: String { "\(call): \(errno.description) (errno \(errno.rawValue))" }
}

/// Reads errno right after a -1 return. `@inline(never)` so nothing runs in between.
@inline(never)
func currentErrno() -> Errno { Errno(rawValue: Glibc.errno) }

/// Runs a libc call that returns -1 and sets errno on failure.
/// EINTR is retried only when the caller says so (`close` must never retry).
@inline(never)
public func valueOrThrow<T: FixedWidthInteger>(
    _ name: @autoclosure () -> String, retryOnInterrupt: Bool = true, _ body: () -> T
) throws -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let err = currentErrno()
        if err == .interrupted && retryOnInterrupt { continue }
        throw SystemCallError(name(), err)
    }
}

/// A raw system call through `syscall(2)` with explicit retry policy.
@inline(never)
public func rawSyscall(
    _ name: @autoclosure () -> String, _ nr: Int, _ a1: Int = 0, _ a2: Int = 0, _ a3: Int = 0,
    _ a4: Int = 0, _ a5: Int = 0, _ a6: Int = 0, retryOnInterrupt: Bool = true
) throws -> Int {
    try valueOrThrow(name(), retryOnInterrupt: retryOnInterrupt) {
        cl_syscall6(nr, a1, a2, a3, a4, a5, a6)
    }
}

public enum Sys {
    public static var pageSize: Int { 4096 }

    /// getuid/geteuid never fail.
    public static var effectiveUID: uid_t { geteuid() }

    /// Writes every byte or throws; short writes are continued.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, what: String) throws {
        var done = 0
        while done < buffer.count {
            let base = buffer.baseAddress.map { $0 + done }
            let n = try valueOrThrow("write(\(what))") { Glibc.write(fd, base, buffer.count - done) }
            done += n
        }
    }

    /// Reads until `buffer` is full or end of file; returns bytes read.
    public static func readFull(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, what: String) throws -> Int {
        var done = 0
        while done < buffer.count {
            let base = buffer.baseAddress.map { $0 + done }
            let n = try valueOrThrow("read(\(what))") { Glibc.read(fd, base, buffer.count - done) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// The whole content of a small file such as those under /proc.
    public static func readFile(_ path: String) throws -> [UInt8] {
        let fd = try valueOrThrow("open(\(path))") { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        defer { Glibc.close(fd) }
        // Most files read here are small /proc files, read by the hundred:
        // one uninitialised stack chunk, not a zeroed 64 KiB array per call.
        return try withUnsafeTemporaryAllocation(byteCount: 16384, alignment: 16) { chunk in
            var out: [UInt8] = []
            while true {
                let n = try valueOrThrow("read(\(path))") { Glibc.read(fd, chunk.baseAddress, chunk.count) }
                if n == 0 { break }
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            }
            return out
        }
    }

    public static func readText(_ path: String) throws -> String {
        String(decoding: try readFile(path), as: UTF8.self)
    }

    /// The numeric names in a directory (/proc, /proc/PID/task, /proc/PID/fd), sorted.
    public static func numericEntries(_ path: String) throws -> [Int32] {
        guard let dir = opendir(path) else { throw SystemCallError("opendir(\(path))", currentErrno()) }
        defer { closedir(dir) }
        var out: [Int32] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let n = Int32(name) { out.append(n) }
        }
        return out.sorted()
    }

    /// The names in a directory but . and .., sorted.
    public static func entries(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw SystemCallError("opendir(\(path))", currentErrno()) }
        defer { closedir(dir) }
        var out: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted()
    }

    /// readlink into a byte array (paths need not be UTF-8).
    public static func readLink(_ path: String) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = try buf.withUnsafeMutableBufferPointer { (b) throws -> Int in
            try valueOrThrow("readlink(\(path))") {
                b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { Glibc.readlink(path, $0, b.count) }
            }
        }
        return Array(buf[0..<n])
    }
}

/// The C library's text for an errno value ("No such file or directory").
public func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
