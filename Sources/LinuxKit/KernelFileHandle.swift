import Glibc

/// A file named by the kernel's handle for it (name_to_handle_at), which
/// finds the inode again with no path (open_by_handle_at, which needs
/// CAP_DAC_READ_SEARCH).
public struct KernelFileHandle: Equatable, Sendable {
    public var type: Int32
    public var bytes: [UInt8]

    public init(type: Int32, bytes: [UInt8]) { self.type = type; self.bytes = bytes }

    /// The handle of what `path` leads to (magic /proc links followed); nil where the file system gives none.
    public static func of(path: String) -> KernelFileHandle? { lookUp(path)?.handle }

    /// The ID of the mount `path` leads to (as fdinfo's mnt_id numbers them); nil where the file system gives no handle.
    public static func mountID(of path: String) -> Int? { lookUp(path).map { Int($0.mountID) } }

    private static func lookUp(_ path: String) -> (handle: KernelFileHandle, mountID: Int32)? {
        let room = 128  // MAX_HANDLE_SZ
        var raw = withUnsafeBytes(of: UInt32(room)) { Array($0) } + [UInt8](repeating: 0, count: 4 + room)
        var mountID: Int32 = 0
        let ok = path.withCString { p in
            raw.withUnsafeMutableBytes { buffer in
                withUnsafeMutablePointer(to: &mountID) { m in
                    (try? rawSyscall("name_to_handle_at", NR.name_to_handle_at, Int(AT_FDCWD), Int(bitPattern: p),
                                     Int(bitPattern: buffer.baseAddress), Int(bitPattern: m), Int(AT_SYMLINK_FOLLOW))) != nil
                }
            }
        }
        guard ok else { return nil }
        let count = raw.withUnsafeBytes { Int($0.load(as: UInt32.self)) }
        let type = raw.withUnsafeBytes { $0.load(fromByteOffset: 4, as: Int32.self) }
        guard count <= room else { return nil }
        return (KernelFileHandle(type: type, bytes: Array(raw[8..<(8 + count)])), mountID)
    }

    /// Opens the file through `mountFD` (any descriptor on its file system); nil with errno set if it cannot.
    public func open(mountFD: Int32, flags: Int32) -> Int32? {
        var raw = withUnsafeBytes(of: UInt32(bytes.count)) { Array($0) } + withUnsafeBytes(of: type) { Array($0) } + bytes
        return raw.withUnsafeMutableBytes { buffer in
            (try? rawSyscall("open_by_handle_at", NR.open_by_handle_at, Int(mountFD), Int(bitPattern: buffer.baseAddress), Int(flags))).map { Int32($0) }
        }
    }
}
