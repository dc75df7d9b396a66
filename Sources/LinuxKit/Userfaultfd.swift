import CLinux
import Glibc
import SystemPackage

/// A userfaultfd held by this process for another process's memory (made
/// there by an injected call, taken over with pidfd_getfd): every ioctl acts
/// on the memory of the process that made it. Lazy restore answers its
/// missing-page faults from the image.
public struct Userfaultfd {
    public let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    /// Events the lazy pager follows: forks (root only: CAP_SYS_PTRACE), mremap, MADV_DONTNEED and munmap.
    public static let followForks = UInt64(CL_UFFD_FEATURE_EVENT_FORK)
    public static let followChanges = UInt64(CL_UFFD_FEATURE_EVENT_REMAP) | UInt64(CL_UFFD_FEATURE_EVENT_REMOVE) | UInt64(CL_UFFD_FEATURE_EVENT_UNMAP)
    /// userfaultfd(2) flag for users where vm.unprivileged_userfaultfd is 0.
    public static let userModeOnly = Int(CL_UFFD_USER_MODE_ONLY)

    public enum Event {
        case pageFault(address: UInt64)
        case fork(child: Int32)
        case remap(from: UInt64, to: UInt64, length: UInt64)
        /// MADV_DONTNEED/MADV_REMOVE (`removed`) or munmap: the range holds nothing the image may fill.
        case remove(start: UInt64, end: UInt64, unmapped: Bool)
        case other(UInt8)
    }

    /// UFFDIO_API with `features`.
    public func handshake(features: UInt64) -> Result<Void, Errno> {
        var api = cl_uffdio_api(api: UInt64(CL_UFFD_API), features: features, ioctls: 0)
        return Self.check(ioctl(fd, UInt(CL_UFFDIO_API), &api))
    }

    /// Missing-page faults in [start, start+length) come to us.
    public func register(start: UInt64, length: UInt64) -> Result<Void, Errno> {
        var r = cl_uffdio_register(range: cl_uffdio_range(start: start, len: length), mode: UInt64(CL_UFFDIO_REGISTER_MODE_MISSING), ioctls: 0)
        return Self.check(ioctl(fd, UInt(CL_UFFDIO_REGISTER), &r))
    }

    /// Asynchronous write protection (UFFD_FEATURE_WP_ASYNC, Linux 6.7+): a
    /// write to a protected page clears its protection in the kernel and
    /// nobody waits; PAGEMAP_SCAN then tells the written pages.
    public static let writeProtectAsync = UInt64(CL_UFFD_FEATURE_WP_ASYNC)

    /// Whether this user can make a userfaultfd with asynchronous write
    /// protection (Linux 6.7+): tried on one made here and closed.
    public static func asyncWriteProtectAvailable() -> Result<Void, Errno> {
        let fd = Int32(truncatingIfNeeded: Syscall.raw(NR.userfaultfd, Int(O_CLOEXEC | O_NONBLOCK) | Int(CL_UFFD_USER_MODE_ONLY)))
        guard fd >= 0 else { return .failure(Errno(rawValue: errno)) }
        defer { close(fd) }
        return Userfaultfd(fd: fd).handshake(features: writeProtectAsync)
    }

    /// [start, start+length) may be write-protected (after `handshake(features: writeProtectAsync)`).
    public func registerWriteProtect(start: UInt64, length: UInt64) -> Result<Void, Errno> {
        var r = cl_uffdio_register(range: cl_uffdio_range(start: start, len: length), mode: UInt64(CL_UFFDIO_REGISTER_MODE_WP), ioctls: 0)
        return Self.check(ioctl(fd, UInt(CL_UFFDIO_REGISTER), &r))
    }

    /// Fills missing pages at `address` with `bytes` and wakes threads waiting there.
    /// EEXIST: a page in the range is already there (nothing is copied past it).
    public func copy(to address: UInt64, from bytes: UnsafeRawBufferPointer) -> Result<Int, Errno> {
        var c = cl_uffdio_copy(dst: address, src: UInt64(UInt(bitPattern: bytes.baseAddress)), len: UInt64(bytes.count), mode: 0, copy: 0)
        let r = ioctl(fd, UInt(CL_UFFDIO_COPY), &c)
        // A copy cut short (EAGAIN) still reports what it copied: the caller goes on from there.
        if r == 0 || c.copy > 0 { return .success(Int(c.copy)) }
        return .failure(Errno(rawValue: c.copy < 0 ? Int32(-c.copy) : errno))
    }

    /// Maps the zero page over missing pages of [start, start+length).
    public func zero(start: UInt64, length: UInt64) -> Result<Void, Errno> {
        var z = cl_uffdio_zeropage(range: cl_uffdio_range(start: start, len: length), mode: 0, zeropage: 0)
        return Self.check(ioctl(fd, UInt(CL_UFFDIO_ZEROPAGE), &z))
    }

    /// Wakes threads waiting on [start, start+length) (after another way of filling it).
    public func wake(start: UInt64, length: UInt64) {
        var r = cl_uffdio_range(start: start, len: length)
        _ = ioctl(fd, UInt(CL_UFFDIO_WAKE), &r)
    }

    /// The next event, nil if none is waiting (the fd is nonblocking); EOF or an error ends it.
    public func readEvent() -> Result<Event?, Errno> {
        var m = cl_uffd_msg()
        let n = read(fd, &m, MemoryLayout<cl_uffd_msg>.size)
        if n < 0 { return errno == EAGAIN ? .success(nil) : .failure(Errno(rawValue: errno)) }
        guard n == MemoryLayout<cl_uffd_msg>.size else { return .failure(.ioError) }
        let a = m.arg
        switch Int32(m.event) {
        case CL_UFFD_EVENT_PAGEFAULT: return .success(.pageFault(address: a.1))  // flags, address
        case CL_UFFD_EVENT_FORK: return .success(.fork(child: Int32(truncatingIfNeeded: a.0)))
        case CL_UFFD_EVENT_REMAP: return .success(.remap(from: a.0, to: a.1, length: a.2))
        case CL_UFFD_EVENT_REMOVE: return .success(.remove(start: a.0, end: a.1, unmapped: false))
        case CL_UFFD_EVENT_UNMAP: return .success(.remove(start: a.0, end: a.1, unmapped: true))
        default: return .success(.other(m.event))
        }
    }

    private static func check(_ r: Int32) -> Result<Void, Errno> { r == 0 ? .success(()) : .failure(Errno(rawValue: errno)) }
}
