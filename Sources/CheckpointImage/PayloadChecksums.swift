import Dispatch
import Glibc

/// Checksums a file's bytes where they lie in the page cache, through a
/// read-only mapping: no copy into a buffer first (that copy was a fifth to
/// a third of a dump's time, and most of its check before commit); and
/// section payloads on every core.
enum PayloadChecksums {
    /// Adds `length` bytes of `fd` from `start` to `crc`; false, with `crc`
    /// untouched, where the range cannot be mapped (a file that is not
    /// mappable, or shorter than the range).
    static func update(_ crc: inout CRC32C, fd: Int32, from start: UInt64, length: Int) -> Bool {
        guard length > 0, mappable(fd, upTo: start + UInt64(length)) else { return false }
        let pageStart = start & ~UInt64(4095)
        let skip = Int(start - pageStart)
        guard let base = mmap(nil, skip + length, PROT_READ, MAP_SHARED, fd, off_t(pageStart)),
              base != MAP_FAILED else { return false }
        FileWindows.readOnce(base, skip + length)
        defer { munmap(base, skip + length) }
        crc.update(UnsafeRawBufferPointer(start: base + skip, count: length))
        return true
    }

    /// A regular file at least `end` bytes long (mapping past its end would fault).
    static func mappable(_ fd: Int32, upTo end: UInt64) -> Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && UInt64(st.st_size) >= end
    }

    /// A section payload whose stored checksum follows it.
    struct Job: Sendable {
        var section: String
        var offset: UInt64
        var payloadStart: UInt64
        var length: Int
    }

    /// The jobs whose payload does not match the checksum stored after it
    /// (or cannot be read), checked on every core: one core reading the page
    /// cache back is bound by its memory bandwidth and checksum speed.
    /// `inPlace` checks through mappings, for a file no one else can reach
    /// (the checkpoint's own before commit): a file shortened while it is
    /// mapped kills the reader with SIGBUS, so anyone else's file is read.
    static func failing(_ jobs: [Job], fd: Int32, inPlace: Bool) -> [Job] {
        guard !jobs.isEmpty else { return [] }
        let lanes = max(1, min(jobs.count, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let verdicts = Verdicts(count: jobs.count)
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: inPlace ? 0 : 1 << 20, alignment: 4096)
            defer { buffer.deallocate() }
            // Interleaved, so each lane has its share of a file's early and late sections.
            for i in stride(from: lane, to: jobs.count, by: lanes) {
                let j = jobs[i]
                var crc = CRC32C()
                var stored: UInt32 = 0
                guard inPlace ? update(&crc, fd: fd, from: j.payloadStart, length: j.length) : read(&crc, fd: fd, j, buffer),
                      pread(fd, &stored, 4, off_t(j.payloadStart + UInt64(j.length))) == 4 else { continue }
                verdicts.sound[i] = crc.value == UInt32(littleEndian: stored)
            }
        }
        return jobs.indices.filter { !verdicts.sound[$0] }.map { jobs[$0] }
    }

    /// The job's payload through `buffer`, a piece at a time; false if the file ends first.
    private static func read(_ crc: inout CRC32C, fd: Int32, _ j: Job, _ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        var done = 0
        while done < j.length {
            let n = min(buffer.count, j.length - done)
            let got = pread(fd, buffer.baseAddress, n, off_t(j.payloadStart + UInt64(done)))
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return false }
            crc.update(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            done += got
        }
        return true
    }

    /// One slot a job, each written by the one lane that checks that job.
    private final class Verdicts: @unchecked Sendable {
        let sound: UnsafeMutableBufferPointer<Bool>
        init(count: Int) {
            sound = .allocate(capacity: count)
            sound.initialize(repeating: false)
        }
        deinit { sound.deallocate() }
    }
}
