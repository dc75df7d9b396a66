import Glibc

/// A large page buffer backed by transparent huge pages where the kernel
/// gives them (THP in its "madvise" mode, as here): a fresh 4 MiB batch
/// buffer takes 2 page faults instead of 1024, and the copies into and out
/// of it miss the TLB less (a C loop of the dump's two copies of 64 MiB
/// here: 44 -> 40 ms, 77 -> 45 ms on fresh buffers; within swiftcr bench's
/// noise). Plain pages where that fails.
public final class HugePageBuffer: @unchecked Sendable {
    private static let huge = 2 << 20
    public let bytes: UnsafeMutableRawBufferPointer
    /// The mapping to unmap (nil: allocated the ordinary way).
    private let mapped: (base: UnsafeMutableRawPointer, length: Int)?

    public init(byteCount: Int) {
        let length = (max(byteCount, 1) + Self.huge - 1) & ~(Self.huge - 1)
        // One huge page more, so that the start can be aligned; the ends are given back.
        guard let raw = mmap(nil, length + Self.huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: 4096)
            mapped = nil
            return
        }
        let head = (Self.huge - Int(UInt(bitPattern: raw) % UInt(Self.huge))) % Self.huge
        if head > 0 { munmap(raw, head) }
        let base = raw + head
        if Self.huge - head > 0 { munmap(base + length, Self.huge - head) }
        _ = madvise(base, length, 14)  // MADV_HUGEPAGE
        bytes = UnsafeMutableRawBufferPointer(start: base, count: byteCount)
        mapped = (base, length)
    }

    deinit {
        if let m = mapped { munmap(m.base, m.length) } else { bytes.deallocate() }
    }
}

/// A read buffer kept for the next read and grown when one does not fit
/// (never shrunk). Huge pages matter most here: a restart reads into fresh
/// buffers, and faulting in 4 KiB pages cost 2.5 ms per 4 MiB section
/// against 0.7 ms for the same read into a buffer already in place.
/// A new buffer is as large as its huge pages (a whole 2 MiB multiple):
/// a reader asks for a section's length plus the file offset's place in
/// its page, which varies by section, and a buffer sized to the byte was
/// too small for about every other 4 MiB section, so each restart faulted
/// in and cleared a fresh buffer per section (21 ms of a 64 MiB restart's
/// 73 under perf).
public final class ReusableBuffer: @unchecked Sendable {
    private var backing: HugePageBuffer?
    static let granule = 2 << 20

    public init() {}

    /// At least `count` bytes (a new buffer holds none of the old bytes).
    public func ensure(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if let b = backing, b.bytes.count >= count { return b.bytes }
        backing = nil  // the old one goes first: never two at once
        let rounded = (max(count, 1) + Self.granule - 1) / Self.granule * Self.granule
        let b = HugePageBuffer(byteCount: rounded)
        backing = b
        return b.bytes
    }
}
