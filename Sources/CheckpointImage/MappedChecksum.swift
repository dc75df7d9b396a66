import Dispatch
import Glibc

/// Checksums a file's bytes where they lie in the page cache, through a
/// read-only mapping: no copy into a buffer first (that copy was a fifth to
/// a third of a dump's time, and most of `swiftcr verify`'s).
enum MappedChecksum {
    /// Adds `length` bytes of `fd` from `start` to `crc`; false, with `crc`
    /// untouched, where the range cannot be mapped (a file that is not
    /// mappable, or shorter than the range).
    static func update(_ crc: inout CRC32C, fd: Int32, from start: UInt64, length: Int) -> Bool {
        guard length > 0, mappable(fd, upTo: start + UInt64(length)) else { return false }
        let pageStart = start & ~UInt64(4095)
        let skip = Int(start - pageStart)
        guard let base = mmap(nil, skip + length, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, off_t(pageStart)),
              base != MAP_FAILED else { return false }
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
    /// (or cannot be read), checked on every core: reading the page cache
    /// back is bound by one core's memory bandwidth and checksum speed.
    static func failing(_ jobs: [Job], fd: Int32) -> [Job] {
        guard !jobs.isEmpty else { return [] }
        let lanes = max(1, min(jobs.count, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let verdicts = Verdicts(count: jobs.count)
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            // Interleaved, so each lane has its share of a file's early and late sections.
            for i in stride(from: lane, to: jobs.count, by: lanes) {
                let j = jobs[i]
                var crc = CRC32C()
                var stored: UInt32 = 0
                guard update(&crc, fd: fd, from: j.payloadStart, length: j.length),
                      pread(fd, &stored, 4, off_t(j.payloadStart + UInt64(j.length))) == 4 else { continue }
                verdicts.sound[i] = crc.value == UInt32(littleEndian: stored)
            }
        }
        return jobs.indices.filter { !verdicts.sound[$0] }.map { jobs[$0] }
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
