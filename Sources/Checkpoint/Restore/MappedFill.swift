import CheckpointImage
import Dispatch
import Glibc

/// An eager restore's plain PAGES sections taken straight from the image
/// file: each section's payload is mapped instead of read into a buffer,
/// checksummed a piece at a time, and each piece put into its process
/// (UFFDIO_COPY or process_vm_writev) right after, while it is in cache, on
/// a worker per core. Reading into a buffer was a third of a restart's CPU
/// on this 2-core machine, where the read, the checksum and the copy into
/// the process already kept both cores busy (a C loop of 64 MiB: 14.5 ms on
/// two threads this way). The pages go in before their section's checksum
/// is known; a section that fails it fails the restore, and the process
/// never runs. A file that shrinks meanwhile: `MappedImageGuard`.
final class MappedFill: @unchecked Sendable {
    /// Bytes checksummed and copied at a time: well inside one core's L2.
    static let pieceBytes = 256 << 10
    private let fd: Int32
    private let pool: FillWorkers
    /// Each worker's reads where the file cannot be mapped (a filesystem without mmap).
    private let loaders: [PagesSectionLoader]

    /// nil where the guard cannot be put in place (then sections are read as before).
    init?(fd: Int32, threads: Int, prepareThread: @escaping @Sendable () -> Void) {
        guard MappedImageGuard.install() else { return nil }
        self.fd = fd
        // A worker's window is watched in its own slot of the guard's.
        pool = FillWorkers(label: "swiftcr.mapped-fill", threads: min(threads, MappedImageGuard.slots), prepareThread: prepareThread)
        loaders = (0..<pool.count).map { _ in PagesSectionLoader(fd: fd) }
    }

    /// Queues a section read without its data (`ImageReader.loadPages` off) for `destination`.
    func submit(_ section: ImageReader.PagesSection, to destination: PageDestination) throws {
        try pool.rethrowFailure()
        let job = Job(section: section)
        pool.run { [self] worker in try fill(job, into: destination, slot: worker) }
    }

    /// Every section submitted is in; throws the first failure.
    func wait() throws { try pool.wait() }

    /// After the last section (or a failure elsewhere): waits for the workers and puts the SIGBUS action back.
    func close() {
        pool.drain()
        MappedImageGuard.remove()
    }

    /// A section read without its data: its table, and where its payload is.
    private struct Job: @unchecked Sendable {  // no bytes of the reader's: `data` is empty
        let section: ImageReader.PagesSection
    }

    private func fill(_ job: Job, into destination: PageDestination, slot: Int) throws {
        let s = job.section
        let payloadStart = s.sectionStart + UInt64(ImageFormat.sectionHeaderSize)
        let dataBytes = s.byteCount
        guard s.payloadLength >= 16 + dataBytes else {
            throw ImageError.malformed(what: "PAGES data does not fit its section", offset: s.sectionStart)
        }
        let mapStart = payloadStart & ~4095
        let length = Int(payloadStart - mapStart) + s.payloadLength + 4
        guard !testHookRefuseMapping(), let mapped = mmap(nil, length, PROT_READ, MAP_SHARED, fd, off_t(mapStart)), mapped != MAP_FAILED else {
            // Read and checked whole, as before.
            return try destination.write(s.runs, data: try loaders[slot].load(s), from: 0)
        }
        defer { munmap(mapped, length) }
        _ = madvise(mapped, length, MADV_SEQUENTIAL)
        MappedImageGuard.watch(slot: slot, base: mapped, length: length)
        testHookShrinkImage(fd, to: payloadStart + UInt64(s.payloadLength / 2))
        testHookSignalWhileMapped()
        var shrank = false
        defer { if !shrank { _ = MappedImageGuard.unwatch(slot: slot) } }
        let payload = UnsafeRawBufferPointer(start: mapped + Int(payloadStart - mapStart), count: s.payloadLength)
        // The data is the payload's tail: the table's own offset of it must say so.
        let dataOffset = s.payloadLength - dataBytes
        guard UInt64(dataOffset) == payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian else {
            throw ImageError.malformed(what: "PAGES data offset does not match its table", offset: payloadStart + 8)
        }
        var crc = CRC32C()
        crc.update(UnsafeRawBufferPointer(rebasing: payload[0..<dataOffset]))
        var at = 0
        while at < dataBytes {
            let piece = UnsafeRawBufferPointer(rebasing: payload[(dataOffset + at)..<(dataOffset + min(dataBytes, at + Self.pieceBytes))])
            crc.update(piece)
            try destination.write(s.runs, data: piece, from: at)
            at += piece.count
        }
        let stored = UnsafeRawBufferPointer(start: mapped + Int(payloadStart - mapStart) + s.payloadLength, count: 4).loadUnaligned(as: UInt32.self).littleEndian
        shrank = MappedImageGuard.unwatch(slot: slot)
        if shrank {
            throw ImageError.io("the image file shrank while it was read (at the PAGES section at offset \(s.sectionStart))")
        }
        guard crc.value == stored else { throw ImageError.checksum(section: "PAGES", offset: s.sectionStart) }
    }
}
