import CheckpointImage
import Glibc

/// The parent images of an incremental image, nearest first, each opened
/// and checked to be the exact image its child was made from (ID and INDEX
/// checksum in the child's INVENTORY). Resolves which image holds each page
/// a process's mappings leave to the parent, and writes those pages in,
/// each PAGES section checked against its checksum as it is read.
final class ParentChain {
    struct Link {
        let path: String
        let fd: Int32
        let index: ImageIndex
        /// Per process: the pages this image itself leaves to its parent.
        let fromParent: [Int32: PageRanges]
        /// PAGES sections by file offset, for finding the one holding a run.
        let pagesSections: [ImageIndex.SectionEntry]
    }

    private(set) var links: [Link] = []

    /// Longest chain followed (a loop of images naming each other ends here too).
    static let maxLength = 4096

    /// Follows the INVENTORY's parent links from the image at `imagePath`
    /// ("" when it came through a pipe). Each parent is looked for in
    /// `parentDir` (by file name), at its recorded path, then beside its child.
    init(inventory: Inventory, imagePath: String, parentDir: String?) throws {
        var next = inventory.parent
        var childPath = imagePath
        var seen: Set<UInt64> = [inventory.imageID]
        while let link = next {
            guard links.count < Self.maxLength, !seen.contains(link.imageID) else {
                close()
                throw CheckpointError(ELOOP, "the chain of parent images loops or is longer than \(Self.maxLength) (at \(link.path))")
            }
            seen.insert(link.imageID)
            do {
                let (opened, parentInventory) = try Self.open(link, child: childPath, parentDir: parentDir)
                links.append(opened)
                childPath = opened.path
                next = parentInventory.parent
            } catch {
                close()
                throw error
            }
        }
    }

    func close() {
        for l in links { Glibc.close(l.fd) }
        links = []
    }

    static func candidates(_ recorded: String, child: String, parentDir: String?) -> [String] {
        let name = recorded.split(separator: "/").last.map(String.init) ?? recorded
        var out: [String] = []
        if let d = parentDir { out.append(d + "/" + name) }
        out.append(recorded)
        if let slash = child.lastIndex(of: "/") { out.append(String(child[..<slash]) + "/" + name) }
        return out
    }

    private static func open(_ link: Inventory.ParentLink, child: String, parentDir: String?) throws -> (Link, Inventory) {
        let childName = child.isEmpty ? "the image" : child
        var fd: Int32 = -1
        var path = link.path
        for candidate in candidates(link.path, child: child, parentDir: parentDir) {
            fd = Glibc.open(candidate, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { path = candidate; break }
        }
        guard fd >= 0 else {
            throw CheckpointError(ENOENT, "parent image \(link.path) of \(childName) is missing (give its directory with --parent-dir)")
        }
        do {
            let loaded = try LoadedImage.load(fd: fd)
            guard loaded.inventory.imageID == link.imageID else {
                throw CheckpointError(ESTALE, "\(path) is not the parent image \(childName) was made from (image ID \(String(loaded.inventory.imageID, radix: 16)), expected \(String(link.imageID, radix: 16)))")
            }
            let index = try ImageIndex.load(fd: fd)
            guard index.checksum == link.indexChecksum else {
                throw CheckpointError(ESTALE, "parent image \(path) has changed since \(childName) was made from it (INDEX checksum differs)")
            }
            var fromParent: [Int32: PageRanges] = [:]
            for p in loaded.processes {
                fromParent[p.pid] = PageRanges(p.mappings.flatMap { m in m.parentRanges.map { ($0.address, $0.address + $0.length) } })
            }
            let sections = index.sections.filter { SectionType(rawValue: $0.type)?.holdsPages == true }.sorted { $0.offset < $1.offset }
            return (Link(path: path, fd: fd, index: index, fromParent: fromParent, pagesSections: sections), loaded.inventory)
        } catch let e as ImageError {
            Glibc.close(fd)
            throw CheckpointError(e.errnoCode, "parent image \(path) is damaged: \(e)")
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// A piece of a saved run: pages [address, address+length) at `fileOffset` in link `link`.
    struct Extent: Equatable {
        var link: Int, address: UInt64, length: UInt64, fileOffset: UInt64
        var compressed = false
    }

    /// Where each page of `wanted` (a process's pages left to the parent)
    /// is: the nearest image that saved it; a page no image holds is zero
    /// and has no extent.
    func resolve(pid: Int32, wanted: PageRanges) -> [Extent] {
        var needed = wanted
        var out: [Extent] = []
        for (k, link) in links.enumerated() where !needed.isEmpty {
            var saved = PageRanges()
            for r in needed.ranges {
                for run in link.index.runs(pid: pid, overlapping: r.start, r.end) {
                    let lo = max(run.address, r.start), hi = min(run.end, r.end)
                    guard hi > lo else { continue }
                    out.append(Extent(link: k, address: lo, length: hi - lo,
                                      fileOffset: run.compressed ? run.fileOffset : run.fileOffset + (lo - run.address), compressed: run.compressed))
                    saved.append(lo, hi)
                }
            }
            needed = needed.subtracting(saved).intersection(link.fromParent[pid] ?? PageRanges())
        }
        return out
    }

    /// Reads the sections holding `extents` (each checked, and decompressed,
    /// once) and hands each extent's bytes to `write`, as a one-run PAGES section.
    func write(_ extents: [Extent], pid: Int32, _ write: (ImageReader.PagesSection, UnsafeRawBufferPointer) throws -> Void) throws {
        for (k, link) in links.enumerated() {
            let mine = extents.filter { $0.link == k }.sorted { $0.fileOffset < $1.fileOffset }
            guard !mine.isEmpty else { continue }
            let loader = PagesSectionLoader(fd: link.fd)
            var current: (entry: ImageIndex.SectionEntry, loaded: PagesSectionLoader.Loaded)?
            for e in mine {
                if current == nil || !Self.holds(current!.entry, e) {
                    guard let entry = Self.section(holding: e, in: link.pagesSections) else {
                        throw CheckpointError(EINVAL, "parent image \(link.path): page data at offset \(e.fileOffset) is in no PAGES section")
                    }
                    do {
                        current = (entry, try loader.load(entry))
                    } catch let error as ImageError {
                        throw CheckpointError(error.errnoCode, "parent image \(link.path) is damaged: \(error)")
                    }
                }
                guard let bytes = current?.loaded.bytes(at: e.address, length: e.length) else {
                    throw CheckpointError(EINVAL, "parent image \(link.path): the section at offset \(current?.entry.offset ?? 0) does not hold 0x\(String(e.address, radix: 16))")
                }
                let run = PageRun(pid: pid, address: e.address, pageCount: e.length / 4096, fileOffset: e.fileOffset)
                try write(ImageReader.PagesSection(pid: pid, runs: [run], data: bytes), bytes)
            }
        }
    }

    /// A compressed extent names its section's start; an ordinary one lies inside it.
    private static func holds(_ s: ImageIndex.SectionEntry, _ e: Extent) -> Bool {
        e.fileOffset >= s.offset && (e.compressed ? e.fileOffset == s.offset : e.fileOffset + e.length <= s.offset + UInt64(ImageFormat.sectionHeaderSize) + s.length)
    }

    /// The section holding the extent (binary search over sections by offset).
    private static func section(holding e: Extent, in sections: [ImageIndex.SectionEntry]) -> ImageIndex.SectionEntry? {
        var low = 0, high = sections.count
        while low < high {
            let mid = (low + high) / 2
            if sections[mid].offset <= e.fileOffset { low = mid + 1 } else { high = mid }
        }
        guard low > 0, holds(sections[low - 1], e) else { return nil }
        return sections[low - 1]
    }
}
