import Glibc

/// An image's metadata and page index, read whole (page data left on disk).
public struct LoadedImage {
    public var version: String
    public var inventory: Inventory
    public var processes: [ProcessState]
    public var zombies: [ZombieState] = []
    /// Tree-wide objects (from the first PROCESS record in images before 1.2).
    public var tree = TreeState()
    public var pageRuns: [PageRun]

    /// Reads every section; with `verify`, page data is read and checksummed too.
    public static func load(fd: Int32, verify: Bool = false) throws -> LoadedImage {
        let reader = try ImageReader(fd: fd)
        reader.loadPages = verify
        var inventory: Inventory?
        var processes: [ProcessState] = []
        var runs: [PageRun] = []
        var zombies: [ZombieState] = []
        var tree: TreeState?
        while let section = try reader.next() {
            switch section {
            case .inventory(let inv): inventory = inv
            case .process(let p): processes.append(p)
            case .zombie(let z): zombies.append(z)
            case .tree(let t): tree = t
            case .pages(let p): runs += p.runs
            case .index, .end: break
            }
        }
        guard let inv = inventory else { throw ImageError.malformed(what: "no INVENTORY section", offset: UInt64(ImageFormat.fileHeaderSize)) }
        return LoadedImage(version: reader.version, inventory: inv, processes: processes, zombies: zombies,
                           tree: tree ?? TreeState(legacy: processes), pageRuns: runs)
    }

    public static func load(path: String, verify: Bool = false) throws -> LoadedImage {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageError.io("\(path): \(String(cString: strerror(errno)))", errno: errno) }
        defer { close(fd) }
        do {
            return try load(fd: fd, verify: verify)
        } catch let e as ImageError {
            if case .io(_, let code) = e { throw ImageError.io("\(path): \(e.description)", errno: code) }
            throw ImageError.io("\(path): \(e.description)")
        }
    }

    public func savedBytes(pid: Int32) -> UInt64 {
        pageRuns.filter { $0.pid == pid }.reduce(0) { $0 + $1.byteCount }
    }

    /// Saved pages inside each of `mappings`, in their order: the process's
    /// runs are sorted once and each mapping finds its first run by binary
    /// search (a process can have tens of thousands of both).
    public func savedPages(pid: Int32, in mappings: [Mapping]) -> [UInt64] {
        let runs = pageRuns.filter { $0.pid == pid }.sorted { $0.address < $1.address }
        return mappings.map { m in
            var low = 0, high = runs.count  // the first run ending after the mapping starts
            while low < high {
                let mid = (low + high) / 2
                if runs[mid].end <= m.start { low = mid + 1 } else { high = mid }
            }
            var total: UInt64 = 0
            var k = low
            while k < runs.count && runs[k].address < m.end {
                let lo = max(runs[k].address, m.start), hi = min(runs[k].end, m.end)
                if hi > lo { total += (hi - lo) / 4096 }
                k += 1
            }
            return total
        }
    }
}
