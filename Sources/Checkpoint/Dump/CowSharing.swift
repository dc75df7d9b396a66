import CheckpointImage
import Glibc
import LinuxKit

/// Finds the pages a forked child still shares copy-on-write with its parent
/// (neither wrote them since the fork). They are not saved for the child:
/// its mapping lists them, and the restorer forks the child from its
/// restored parent, so they are one physical page again (CRIU does the same).
///
/// A page counts as shared when both processes map it present and the child
/// not exclusively, and the frame numbers are equal; where pagemap hides
/// frame numbers (no CAP_SYS_ADMIN), when the bytes are equal, which
/// restores the same contents either way.
struct CowSharing {
    let child: pid_t
    let parent: pid_t

    /// Private anonymous memory, the kind a fork hands down.
    static func plain(_ x: Mapping) -> Bool {
        x.kind == .anonymous && !x.shared && x.inode == 0 && !x.advice.contains(.droppable)
    }

    /// A private file mapping restored from its file (the pages written to
    /// it are its own, copy-on-write like anonymous memory).
    static func privateFile(_ x: Mapping) -> Bool {
        x.kind == .privateFile && !x.shared && !x.savedWhole
    }

    /// Whether the parent's `p` could have handed the child's `m` its pages
    /// by fork: the same kind of private memory, of the same file at the
    /// same offsets for a file mapping.
    static func sameKind(_ m: Mapping, _ p: Mapping) -> Bool {
        guard p.growsDown == m.growsDown, p.advice.contains(.noReserve) == m.advice.contains(.noReserve) else { return false }
        if plain(m) { return plain(p) }
        guard privateFile(m), privateFile(p), p.device == m.device, p.inode == m.inode else { return false }
        return p.offset &- p.start == m.offset &- m.start
    }

    /// The parts of the child's mapping `m` where the parent has private
    /// memory of the same kind: only there can a page come by fork.
    static func inheritable(_ m: Mapping, parentMappings: [Mapping]) -> [(start: UInt64, end: UInt64)] {
        // Huge pages are mapped whole: a 4 KiB run of one cannot be kept from the fork.
        guard plain(m) || privateFile(m), m.hugePageSize == 0 else { return [] }
        return parentMappings.compactMap { p in
            guard p.end > m.start, p.start < m.end, sameKind(m, p) else { return nil }
            return (max(p.start, m.start), min(p.end, m.end))
        }
    }

    /// Inherited (first page, count) runs for each of the child's mappings
    /// that has any, by index in `childMappings`.
    func find(childMappings: [Mapping], parentMappings: [Mapping]) throws -> [Int: [UInt64]] {
        let mine = try Pagemap(pid: child)
        defer { mine.close() }
        let theirs = try Pagemap(pid: parent)
        defer { theirs.close() }
        var found: [Int: [UInt64]] = [:]
        let window: UInt64 = 1 << 30
        for (i, m) in childMappings.enumerated() {
            var pages: [UInt64] = []  // page indexes from m.start
            for part in Self.inheritable(m, parentMappings: parentMappings) {
                var start = part.start
                while start < part.end {
                    let end = min(part.end, start + window)
                    let a = try mine.entries(start: start, end: end)
                    let b = try theirs.entries(start: start, end: end)
                    let first = (start - m.start) / 4096
                    var byContent: [UInt64] = []
                    for k in 0..<min(a.count, b.count) {
                        let (x, y) = (a[k], b[k])
                        guard x & Pagemap.present != 0, y & Pagemap.present != 0, x & Pagemap.exclusive == 0 else { continue }
                        let (fx, fy) = (x & Pagemap.frameMask, y & Pagemap.frameMask)
                        if fx != 0 || fy != 0 {
                            if fx == fy { pages.append(first + UInt64(k)) }
                        } else {
                            byContent.append(first + UInt64(k))
                        }
                    }
                    pages += try sameContent(byContent, base: m.start)
                    start = end
                }
            }
            let runs = Self.runs(pages.sorted())
            if !runs.isEmpty { found[i] = runs }
        }
        return found
    }

    /// Of the pages (indexes from `base`, sorted), those whose bytes are
    /// equal in both processes, read run by run through /proc/PID/mem
    /// (process_vm_readv would unshare them). A run that cannot be read is
    /// simply saved.
    func sameContent(_ pages: [UInt64], base: UInt64) throws -> [UInt64] {
        let (mine, theirs) = (RemoteMemory(pid: child), RemoteMemory(pid: parent))
        var equal: [UInt64] = []
        let runs = Self.runs(pages)
        for k in stride(from: 0, to: runs.count, by: 2) {
            let (first, count) = (runs[k], Int(runs[k + 1]))
            var a = [UInt8](repeating: 0, count: count * 4096), b = a
            guard (try? a.withUnsafeMutableBytes { try mine.readViaProcMem(address: base + first * 4096, into: $0) }) != nil,
                  (try? b.withUnsafeMutableBytes { try theirs.readViaProcMem(address: base + first * 4096, into: $0) }) != nil else { continue }
            for p in 0..<count where a[(p * 4096)..<((p + 1) * 4096)] == b[(p * 4096)..<((p + 1) * 4096)] {
                equal.append(first + UInt64(p))
            }
        }
        return equal
    }

    /// Sorted page indexes as (first, count) pairs.
    static func runs(_ pages: [UInt64]) -> [UInt64] {
        var out: [UInt64] = []
        for p in pages {
            if out.count >= 2 && out[out.count - 2] + out[out.count - 1] == p { out[out.count - 1] += 1 } else { out += [p, 1] }
        }
        return out
    }
}
