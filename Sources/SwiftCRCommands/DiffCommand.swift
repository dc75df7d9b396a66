import ArgumentParser
import Checkpoint
import CheckpointImage
import Glibc

/// `swiftcr diff A B`: what changed between two images of the same process
/// (or tree): mappings added and removed, pages changed per mapping, file
/// descriptors, registers. Exit 0 when nothing differs, 1 when something
/// does, as diff(1); a damaged image is an error (22).
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diff", abstract: "Compare two images: mappings, changed pages, fds, registers.")
    @Argument(help: "The older image.") var a: String
    @Argument(help: "The newer image.") var b: String

    struct Opened { let image: LoadedImage; let index: ImageIndex; let fd: Int32 }

    static func open(_ path: String) throws -> Opened {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno: errno, "\(path)") }
        // Page data is read at random below, where checksums cannot be checked: verify the whole file first.
        if let problem = ImageVerifier.verify(fd: fd).first {
            close(fd)
            throw CheckpointError(EINVAL, "\(path) is damaged: \(problem)")
        }
        lseek(fd, 0, SEEK_SET)
        do {
            let image = try LoadedImage.load(fd: fd)
            return Opened(image: image, index: try ImageIndex.load(fd: fd), fd: fd)
        } catch let e as ImageError {
            close(fd)
            throw CheckpointError(EINVAL, "\(path): \(e)")
        }
    }

    func run() throws {
        let old = try Self.open(a), new = try Self.open(b)
        defer { close(old.fd); close(new.fd) }
        var lines: [String] = []
        var pairs: [(ProcessState, ProcessState)] = []
        if old.image.processes.count == 1 && new.image.processes.count == 1 {
            pairs = [(old.image.processes[0], new.image.processes[0])]
        } else {
            for p in old.image.processes {
                if let q = new.image.processes.first(where: { $0.pid == p.pid }) { pairs.append((p, q)) } else { lines.append("- process \(p.pid) \(p.command)") }
            }
            for q in new.image.processes where !old.image.processes.contains(where: { $0.pid == q.pid }) { lines.append("+ process \(q.pid) \(q.command)") }
        }
        for (p, q) in pairs { lines += try compare(p, q, old, new) }
        if lines.isEmpty { print("no differences"); return }
        for l in lines { print(l) }
        throw ExitCode(1)
    }

    func compare(_ p: ProcessState, _ q: ProcessState, _ old: Opened, _ new: Opened) throws -> [String] {
        var out: [String] = []
        let name = p.pid == q.pid ? "process \(p.pid)" : "process \(p.pid) -> \(q.pid)"
        for (what, x, y) in [("command", p.command, q.command), ("executable", p.executable, q.executable), ("cwd", p.cwd, q.cwd)] where x != y {
            out.append("\(name): \(what) \(x) -> \(y)")
        }
        // Mappings by range (dictionaries: a process may have tens of thousands).
        let oldByRange = Dictionary(p.mappings.map { ([$0.start, $0.end], $0) }, uniquingKeysWith: { a, _ in a })
        let newByRange = Dictionary(q.mappings.map { ([$0.start, $0.end], $0) }, uniquingKeysWith: { a, _ in a })
        for m in p.mappings where newByRange[[m.start, m.end]] == nil {
            out.append("\(name): - mapping \(Self.range(m)) \(m.protectionString) \(m.path ?? "")")
        }
        for m in q.mappings where oldByRange[[m.start, m.end]] == nil {
            out.append("\(name): + mapping \(Self.range(m)) \(m.protectionString) \(m.path ?? "")")
        }
        for m in p.mappings {
            guard let n = newByRange[[m.start, m.end]] else { continue }
            if m.protectionString != n.protectionString || m.path != n.path {
                out.append("\(name): mapping \(Self.range(m)) \(m.protectionString) \(m.path ?? "") -> \(n.protectionString) \(n.path ?? "")")
            }
            let (changed, onlyOld, onlyNew) = try pageChanges(m, p.pid, q.pid, old, new)
            if changed + onlyOld + onlyNew > 0 {
                out.append("\(name): mapping \(Self.range(m)) \(m.path ?? ""): \(changed) page(s) changed, \(onlyOld) saved only in A, \(onlyNew) only in B")
            }
        }
        // File descriptors by number.
        let oldFDs = Dictionary(p.files.map { ($0.fd, $0) }, uniquingKeysWith: { a, _ in a })
        let newFDs = Dictionary(q.files.map { ($0.fd, $0) }, uniquingKeysWith: { a, _ in a })
        for f in p.files where newFDs[f.fd] == nil { out.append("\(name): - fd \(f.fd) \(f.typeName) \(f.path)") }
        for g in q.files where oldFDs[g.fd] == nil { out.append("\(name): + fd \(g.fd) \(g.typeName) \(g.path)") }
        for f in p.files {
            guard let g = newFDs[f.fd] else { continue }
            if f.kind != g.kind || f.path != g.path || f.offset != g.offset || f.flags != g.flags {
                out.append("\(name): fd \(f.fd) \(f.typeName) \(f.path) offset \(f.offset) flags 0\(String(f.flags, radix: 8)) -> \(g.typeName) \(g.path) offset \(g.offset) flags 0\(String(g.flags, radix: 8))")
            } else if f.payload != g.payload {
                out.append("\(name): fd \(f.fd) \(f.typeName) state \(JSONValue(reflecting: f.payload).rendered(compact: true)) -> \(JSONValue(reflecting: g.payload).rendered(compact: true))")
            }
        }
        // Registers of threads by position (TIDs change across restarts).
        if p.threads.count != q.threads.count { out.append("\(name): \(p.threads.count) -> \(q.threads.count) threads") }
        for (t, u) in zip(p.threads, q.threads) {
            let changed = zip(ThreadState.registerNames, zip(t.registers, u.registers)).filter { $0.1.0 != $0.1.1 }
            if !changed.isEmpty {
                out.append("\(name): thread \(t.tid): " + changed.map { "\($0.0) 0x\(String($0.1.0, radix: 16)) -> 0x\(String($0.1.1, radix: 16))" }.joined(separator: ", "))
            }
            if t.xsave != u.xsave { out.append("\(name): thread \(t.tid): FPU/vector state changed") }
        }
        return out
    }

    /// Pages of a mapping whose saved contents differ, or that only one image holds.
    func pageChanges(_ m: Mapping, _ pidA: Int32, _ pidB: Int32, _ old: Opened, _ new: Opened) throws -> (Int, Int, Int) {
        func pages(_ o: Opened, _ pid: Int32) -> Set<UInt64> {
            var s: Set<UInt64> = []
            for r in o.index.runs(pid: pid, overlapping: m.start, m.end) {
                var a = max(r.address, m.start)
                while a < min(r.end, m.end) { s.insert(a); a += 4096 }
            }
            return s
        }
        let inA = pages(old, pidA), inB = pages(new, pidB)
        var changed = 0
        let pagesA = PageLookup(index: old.index, fd: old.fd), pagesB = PageLookup(index: new.index, fd: new.fd)
        for address in inA.intersection(inB).sorted() {
            do {
                if try pagesA.page(pid: pidA, address: address) != pagesB.page(pid: pidB, address: address) { changed += 1 }
            } catch let e as ImageError {
                throw CheckpointError(EINVAL, "reading page 0x\(String(address, radix: 16)): \(e)")
            }
        }
        return (changed, inA.subtracting(inB).count, inB.subtracting(inA).count)
    }

    static func range(_ m: Mapping) -> String { "\(String(m.start, radix: 16))-\(String(m.end, radix: 16))" }
}
