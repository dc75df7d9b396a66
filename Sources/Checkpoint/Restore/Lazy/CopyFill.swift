import CheckpointImage
import Glibc
import LinuxKit

/// An eager restore's faster way into private anonymous memory: the same
/// userfaultfd a lazy restore uses, but the pages are copied in with
/// UFFDIO_COPY before the process runs, and the userfaultfd is closed right
/// after its pages (so no injected call ever waits on it). UFFDIO_COPY puts
/// a new page in place with one copy; process_vm_writev faults each page in
/// first, which costs about as much again. Where a userfaultfd cannot be had,
/// or a page is already there, pages go in as before.
final class CopyFill {
    private var fills: [pid_t: (uffd: Userfaultfd, ranges: [(start: UInt64, end: UInt64)])] = [:]

    /// After `prepare`: a userfaultfd for the process, its eligible ranges registered.
    func attach(_ r: ProcessRestore, plan: LazyPlan, userMode: Bool) {
        guard let ranges = plan.eligible[r.process.pid], !ranges.isEmpty,
              let fd = try? LazyRegistration.takeUserfaultfd(r, userMode: userMode) else { return }
        func drop() { Glibc.close(fd) }
        let uffd = Userfaultfd(fd: fd)
        guard case .success = uffd.handshake(features: 0) else { drop(); return }
        var registered: [(start: UInt64, end: UInt64)] = []
        for range in ranges {
            if case .success = uffd.register(start: range.start, length: range.end - range.start) { registered.append(range) }
        }
        fills[r.process.pid] = (uffd, registered)
    }

    /// Writes a section's runs: UFFDIO_COPY inside the registered ranges,
    /// process_vm_writev elsewhere (never into a registered range: a missing
    /// page there would wait for us).
    func write(_ s: ImageReader.PagesSection, data: UnsafeRawBufferPointer, into r: ProcessRestore) throws {
        guard let fill = fills[s.pid] else {
            try r.memory.write(ranges: s.runs.map { ($0.address, Int($0.byteCount)) }, from: data)
            return
        }
        var offset = 0
        for run in s.runs {
            var at = run.address
            while at < run.end {
                let inside = fill.ranges.first { at >= $0.start && at < $0.end }
                // Up to the end of this range, or to the start of the next one.
                let stop = inside.map { min($0.end, run.end) } ?? min(run.end, fill.ranges.filter { $0.start > at }.map(\.start).min() ?? run.end)
                let bytes = UnsafeRawBufferPointer(rebasing: data[(offset + Int(at - run.address))..<(offset + Int(stop - run.address))])
                if inside != nil { try copy(fill.uffd, to: at, bytes, r) } else { try r.memory.write(ranges: [(at, bytes.count)], from: bytes) }
                at = stop
            }
            offset += Int(run.byteCount)
        }
    }

    private func copy(_ uffd: Userfaultfd, to address: UInt64, _ bytes: UnsafeRawBufferPointer, _ r: ProcessRestore) throws {
        var done = 0
        while done < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[done...])
            switch uffd.copy(to: address + UInt64(done), from: rest) {
            case .success(let n): done += n > 0 ? n : rest.count
            case .failure(.fileExists):
                // That page is already there (present pages do not fault): written the old way.
                try r.memory.write(ranges: [(address + UInt64(done), 4096)], from: UnsafeRawBufferPointer(rebasing: rest[0..<4096]))
                done += 4096
            case .failure(.resourceTemporarilyUnavailable): continue
            case .failure(let e): throw CheckpointError(e.rawValue, "UFFDIO_COPY at 0x\(String(address + UInt64(done), radix: 16)): \(e)")
            }
        }
    }

    /// Every page is in: the userfaultfds close, which unregisters their ranges.
    func close() {
        for f in fills.values { Glibc.close(f.uffd.fd) }
        fills = [:]
    }
}
