import CLinux
import Glibc

/// Another process's memory, read and written with process_vm_readv/writev,
/// with /proc/PID/mem as the fallback where those refuse (read-only pages).
public struct RemoteMemory {
    public let pid: pid_t
    /// Linux caps one process_vm_* call at IOV_MAX remote segments.
    static let maxSegments = 1024

    public init(pid: pid_t) { self.pid = pid }

    /// process_vm_readv/writev (Glibc hides them without _GNU_SOURCE, so via syscall).
    private func transfer(write: Bool, _ local: inout iovec, _ remote: inout [iovec]) -> Int {
        let nr = write ? Int(SYS_process_vm_writev) : Int(SYS_process_vm_readv)
        return withUnsafeMutablePointer(to: &local) { lp in
            remote.withUnsafeMutableBufferPointer { rp in
                cl_syscall6(nr, Int(pid), Int(bitPattern: lp), 1, Int(bitPattern: rp.baseAddress), rp.count, 0)
            }
        }
    }

    /// Fills `buffer` from the remote ranges, in order; their lengths must sum to the buffer's size.
    public func read(ranges: [(address: UInt64, length: Int)], into buffer: UnsafeMutableRawBufferPointer) throws {
        var segment = 0
        var localOffset = 0
        while segment < ranges.count {
            let end = min(ranges.count, segment + Self.maxSegments)
            var remote = (segment..<end).map { iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt(ranges[$0].address)), iov_len: ranges[$0].length) }
            let total = remote.reduce(0) { $0 + $1.iov_len }
            var local = iovec(iov_base: buffer.baseAddress.map { $0 + localOffset }, iov_len: total)
            let got = try valueOrThrow("process_vm_readv(\(pid))") { transfer(write: false, &local, &remote) }
            if got != total {
                // A partial read stops at the first range it could not read: redo the rest one by one.
                try readSlow(ranges: Array(ranges[segment..<end]), into: buffer, localOffset: localOffset)
            }
            localOffset += total
            segment = end
        }
    }

    private func readSlow(ranges: [(address: UInt64, length: Int)], into buffer: UnsafeMutableRawBufferPointer, localOffset: Int) throws {
        var offset = localOffset
        for r in ranges {
            try readViaProcMem(address: r.address, into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<offset + r.length]))
            offset += r.length
        }
    }

    public func read(address: UInt64, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { (raw) throws in
            try read(ranges: [(address, count)], into: raw)
        }
        return out
    }

    public func read<T>(_ type: T.Type, at address: UInt64) throws -> T {
        let bytes = try read(address: address, count: MemoryLayout<T>.size)
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    func readViaProcMem(address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        let path = "/proc/\(pid)/mem"
        let fd = try valueOrThrow("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var done = 0
        while done < buffer.count {
            let n = try valueOrThrow("pread(\(path), 0x\(String(address, radix: 16)))") {
                pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(Int64(bitPattern: address)) + off_t(done))
            }
            if n == 0 { throw SystemCallError("pread(\(path), 0x\(String(address, radix: 16)))", .ioError) }
            done += n
        }
    }

    /// Writes bytes at a remote address; falls back to /proc/PID/mem (which ignores
    /// page protections) when process_vm_writev cannot write there.
    public func write(address: UInt64, bytes: UnsafeRawBufferPointer) throws {
        var local = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
        let remote = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt(address)), iov_len: bytes.count)
        var remotes = [remote]
        let got = transfer(write: true, &local, &remotes)
        if got == bytes.count { return }
        try writeViaProcMem(address: address, bytes: bytes)
    }

    public func write(address: UInt64, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (raw) throws in try write(address: address, bytes: raw) }
    }

    /// Scatter write of many ranges from one contiguous buffer (restore's hot path).
    public func write(ranges: [(address: UInt64, length: Int)], from buffer: UnsafeRawBufferPointer) throws {
        var segment = 0
        var localOffset = 0
        while segment < ranges.count {
            let end = min(ranges.count, segment + Self.maxSegments)
            var remote = (segment..<end).map { iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt(ranges[$0].address)), iov_len: ranges[$0].length) }
            let total = remote.reduce(0) { $0 + $1.iov_len }
            var local = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress.map { $0 + localOffset }), iov_len: total)
            let got = transfer(write: true, &local, &remote)
            if got != total {
                var offset = localOffset
                for i in segment..<end {
                    let r = ranges[i]
                    try write(address: r.address, bytes: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + r.length]))
                    offset += r.length
                }
            }
            localOffset += total
            segment = end
        }
    }

    func writeViaProcMem(address: UInt64, bytes: UnsafeRawBufferPointer) throws {
        let path = "/proc/\(pid)/mem"
        let fd = try valueOrThrow("open(\(path))") { open(path, O_RDWR | O_CLOEXEC) }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = try valueOrThrow("pwrite(\(path), 0x\(String(address, radix: 16)))") {
                pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(Int64(bitPattern: address)) + off_t(done))
            }
            if n == 0 { throw SystemCallError("pwrite(\(path))", .ioError) }
            done += n
        }
    }
}
