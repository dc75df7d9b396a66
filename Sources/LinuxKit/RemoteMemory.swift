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
        try scatter(write: false, ranges: ranges, buffer: buffer) { batch, localOffset in
            // A partial read stops at the first range it could not read: redo the batch range by range.
            try readSlow(ranges: batch, into: buffer, localOffset: localOffset)
        }
    }

    /// One process_vm_readv/writev per IOV_MAX ranges against consecutive
    /// slices of `buffer`; `fallback` redoes a batch the kernel moved only in part.
    private func scatter(write: Bool, ranges: [(address: UInt64, length: Int)], buffer: UnsafeMutableRawBufferPointer,
                         fallback: ([(address: UInt64, length: Int)], Int) throws -> Void) throws {
        var segment = 0
        var localOffset = 0
        while segment < ranges.count {
            let end = min(ranges.count, segment + Self.maxSegments)
            var remote = (segment..<end).map { iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt(ranges[$0].address)), iov_len: ranges[$0].length) }
            let total = remote.reduce(0) { $0 + $1.iov_len }
            var local = iovec(iov_base: buffer.baseAddress.map { $0 + localOffset }, iov_len: total)
            if transfer(write: write, &local, &remote) != total {
                try fallback(Array(ranges[segment..<end]), localOffset)
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

    /// Reads through /proc/PID/mem only. Unlike process_vm_readv it does not
    /// pin the pages, so a page shared copy-on-write stays shared.
    public func readViaProcMem(address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        try procMem(write: false, address: address, buffer: buffer)
    }

    /// pread/pwrite on /proc/PID/mem, which reaches pages of any protection.
    private func procMem(write: Bool, address: UInt64, buffer: UnsafeMutableRawBufferPointer) throws {
        guard let base = buffer.baseAddress else { return }
        let path = "/proc/\(pid)/mem"
        let fd = try valueOrThrow("open(\(path))") { open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC) }
        defer { close(fd) }
        let what = "\(write ? "pwrite" : "pread")(\(path), 0x\(String(address, radix: 16)))"
        var done = 0
        while done < buffer.count {
            let position = off_t(Int64(bitPattern: address)) + off_t(done)
            let n = try valueOrThrow(what) {
                write ? pwrite(fd, base + done, buffer.count - done, position) : pread(fd, base + done, buffer.count - done, position)
            }
            if n == 0 { throw SystemCallError(what, .ioError) }
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
        try scatter(write: true, ranges: ranges, buffer: UnsafeMutableRawBufferPointer(mutating: buffer)) { batch, localOffset in
            var offset = localOffset
            for r in batch {
                try write(address: r.address, bytes: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + r.length]))
                offset += r.length
            }
        }
    }

    func writeViaProcMem(address: UInt64, bytes: UnsafeRawBufferPointer) throws {
        try procMem(write: true, address: address, buffer: UnsafeMutableRawBufferPointer(mutating: bytes))
    }
}
