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

    /// Where a process's pages go: a value other threads may use (FrameFill)
    /// while this CopyFill attaches more processes.
    func destination(for r: ProcessRestore) -> PageDestination {
        let fill = fills[r.process.pid]
        return PageDestination(memory: r.memory, uffd: fill?.uffd, ranges: fill?.ranges ?? [])
    }

    /// Writes a section's runs (see `PageDestination.write`).
    func write(_ s: ImageReader.PagesSection, data: UnsafeRawBufferPointer, into r: ProcessRestore) throws {
        try destination(for: r).write(s.runs, data: data, from: 0)
    }

    /// Every page is in: the userfaultfds close, which unregisters their ranges.
    func close() {
        for f in fills.values { Glibc.close(f.uffd.fd) }
        fills = [:]
    }
}

/// One process's memory as pages go into it: UFFDIO_COPY inside the ranges
/// its userfaultfd registered, process_vm_writev elsewhere (never into a
/// registered range: a missing page there would wait for us).
struct PageDestination: @unchecked Sendable {  // plain values: a pid, an fd number and ranges
    let memory: RemoteMemory
    let uffd: Userfaultfd?
    let ranges: [(start: UInt64, end: UInt64)]

    /// Writes `data`, which holds bytes [from, from + data.count) of the
    /// runs' pages laid back to back (a whole section, or one piece of it).
    func write(_ runs: [PageRun], data: UnsafeRawBufferPointer, from: Int) throws {
        let to = from + data.count
        var pieces: [(address: UInt64, length: Int)] = []
        var runStart = 0
        for run in runs {
            if runStart >= to { break }
            let runEnd = runStart + Int(run.byteCount)
            let lo = max(runStart, from), hi = min(runEnd, to)
            if lo < hi { pieces.append((run.address + UInt64(lo - runStart), hi - lo)) }
            runStart = runEnd
        }
        // Without a userfaultfd: one scatter write for all of them.
        guard uffd != nil else { return try memory.write(ranges: pieces, from: data) }
        var offset = 0
        for p in pieces {
            try write(UnsafeRawBufferPointer(rebasing: data[offset..<(offset + p.length)]), at: p.address)
            offset += p.length
        }
    }

    /// `bytes` at `address`, split where registered ranges begin and end.
    private func write(_ bytes: UnsafeRawBufferPointer, at address: UInt64) throws {
        guard let uffd else {
            try memory.write(ranges: [(address, bytes.count)], from: bytes)
            return
        }
        let end = address + UInt64(bytes.count)
        var at = address
        while at < end {
            let inside = ranges.first { at >= $0.start && at < $0.end }
            // Up to the end of this range, or to the start of the next one.
            let stop = inside.map { min($0.end, end) } ?? min(end, ranges.filter { $0.start > at }.map(\.start).min() ?? end)
            let piece = UnsafeRawBufferPointer(rebasing: bytes[Int(at - address)..<Int(stop - address)])
            if inside != nil { try copy(uffd, to: at, piece) } else { try memory.write(ranges: [(at, piece.count)], from: piece) }
            at = stop
        }
    }

    private func copy(_ uffd: Userfaultfd, to address: UInt64, _ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[done...])
            switch uffd.copy(to: address + UInt64(done), from: rest) {
            case .success(let n): done += n > 0 ? n : rest.count
            case .failure(.fileExists):
                // That page is already there (present pages do not fault): written the old way.
                try memory.write(ranges: [(address + UInt64(done), 4096)], from: UnsafeRawBufferPointer(rebasing: rest[0..<4096]))
                done += 4096
            case .failure(.resourceTemporarilyUnavailable): continue
            case .failure(let e): throw CheckpointError(e.rawValue, "UFFDIO_COPY at 0x\(String(address + UInt64(done), radix: 16)): \(e)")
            }
        }
    }
}
