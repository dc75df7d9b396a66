import Glibc

/// A growing file's bytes through read-only mappings of 64 MiB each:
/// reading back each section just written costs no mmap, MAP_POPULATE and
/// munmap of its own (a 512 MiB dump's in-dump check took 0.12-0.16 s that
/// way, 0.09-0.10 s this way). A window is unmapped once the check has
/// passed it, in the reading thread's waits; with 1 GiB windows the unmap
/// (12 ms per 512 MiB) came after the last write. Mapping past the file's end is
/// allowed; only bytes already in the file are touched. For a file no one
/// else can shorten (a checkpoint's own, before commit), as a mapped page
/// past the end would fault.
final class FileWindows {
    private let fd: Int32
    private let windowBytes: UInt64
    private var windows: [UInt64: UnsafeRawPointer] = [:]
    /// Set once the file cannot be mapped (a pipe, a socket): callers read instead.
    private var unmappable = false

    /// `windowBytes`, a multiple of the page size (smaller only in tests).
    init(fd: Int32, windowBytes: UInt64 = 64 << 20) {
        self.fd = fd
        self.windowBytes = windowBytes
    }

    deinit {
        for base in windows.values { munmap(UnsafeMutableRawPointer(mutating: base), Int(windowBytes)) }
    }

    /// Adds `length` bytes of the file from `start` to `crc`; false, with
    /// `crc` untouched, where they cannot be mapped. Ranges come in file
    /// order: windows wholly before `start` are unmapped (a dump of tens of
    /// GiB would otherwise keep page tables for all of it).
    func update(_ crc: inout CRC32C, from start: UInt64, length: Int) -> Bool {
        guard !unmappable, length > 0 else { return false }
        guard PayloadChecksums.mappable(fd, upTo: start + UInt64(length)) else { return false }
        for (index, base) in windows where index < start / windowBytes {
            munmap(UnsafeMutableRawPointer(mutating: base), Int(windowBytes))
            windows[index] = nil
        }
        var pieces: [UnsafeRawBufferPointer] = []
        var at = start
        let end = start + UInt64(length)
        while at < end {
            let index = at / windowBytes
            guard let base = window(index) else { return false }
            let inWindow = at - index * windowBytes
            let count = min(end - at, windowBytes - inWindow)
            pieces.append(UnsafeRawBufferPointer(start: base + Int(inWindow), count: Int(count)))
            at += count
        }
        for piece in pieces { crc.update(piece) }
        return true
    }

    private func window(_ index: UInt64) -> UnsafeRawPointer? {
        if let base = windows[index] { return base }
        guard let base = mmap(nil, Int(windowBytes), PROT_READ, MAP_SHARED, fd, off_t(index * windowBytes)),
              base != MAP_FAILED else {
            unmappable = true
            return nil
        }
        Self.readOnce(base, Int(windowBytes))
        windows[index] = UnsafeRawPointer(base)
        return UnsafeRawPointer(base)
    }

    /// A mapping read once front to back: MADV_SEQUENTIAL keeps its pages'
    /// recency out of the LRU. Without it, unmapping marks every young page
    /// accessed a second time, which moves it to the active list under the
    /// LRU lock the writer needs for each new page (2 GiB: unmap 121 ms,
    /// with it 49, and no lock contention with the writer).
    /// (No MAP_POPULATE either: it marks each page accessed as it maps it.)
    static func readOnce(_ base: UnsafeMutableRawPointer, _ length: Int) {
        _ = madvise(base, length, MADV_SEQUENTIAL)
    }
}
