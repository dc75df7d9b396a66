import Glibc

/// Everything cr_restart reads and decides before it forks anything: the
/// INVENTORY, every PROCESS and ZOMBIE record up to the first PAGES section,
/// the record invariants, the relocation of paths, and whether this machine
/// and this user can take the image. Pure (no ptrace), so the fuzzer runs it
/// whole (Fuzz/ImageReaderFuzz.swift).
public struct RestartHeader {
    public var inventory: Inventory
    public var processes: [ProcessState] = []
    public var zombies: [ZombieState] = []
    /// SysV objects and omitted PIDs (TREE section, or the first PROCESS record before 1.2).
    public var tree = TreeState()
    /// The first PAGES section, already read (its data lives in the reader's buffer).
    public var firstPages: ImageReader.PagesSection?

    /// Why an image cannot be restarted here.
    public enum Refusal: Error, CustomStringConvertible, Equatable {
        case malformed(String)
        case architecture(image: String, machine: String)
        case owner(uid: UInt64, caller: UInt32)
        case missingFile(path: String, address: UInt64, errno: Int32)
        case changedFile(path: String, address: UInt64, size: UInt64, now: Int64)

        public var description: String {
            switch self {
            case .malformed(let why): return why
            case .architecture(let image, let machine): return "image is for \(image), this machine is \(machine)"
            case .owner(let uid, let caller): return "image belongs to uid \(uid); uid \(caller) may not restore it"
            case .missingFile(let path, let address, let e):
                return "\(path), mapped at 0x\(String(address, radix: 16)), is missing: \(String(cString: strerror(e)))" + RestartHeader.hint
            case .changedFile(let path, let address, let size, let now):
                return "\(path) changed since the checkpoint (size \(size) -> \(now)); its mapping at 0x\(String(address, radix: 16)) cannot be restored" + RestartHeader.hint
            }
        }
    }

    /// What would have kept the mapping restorable.
    static let hint = " (a checkpoint with --save-exe, --save-private or --save-all keeps mapped files' contents in the image)"

    /// Reads up to the first PAGES section; throws ImageError for bytes that
    /// are not an image, Refusal.malformed for records that cannot go together.
    public static func read(_ reader: ImageReader, relocation: PathRelocation = PathRelocation()) throws -> RestartHeader {
        guard case .inventory(let inv)? = try reader.next() else {
            throw Refusal.malformed("image does not start with an INVENTORY section")
        }
        var h = RestartHeader(inventory: inv)
        scan: while let section = try reader.next() {
            switch section {
            case .process(let p): h.processes.append(p)
            case .zombie(let z): h.zombies.append(z)
            case .tree(let t): h.tree = t
            case .pages(let p): h.firstPages = p; break scan
            case .index, .end, .inventory: break scan
            }
        }
        guard !h.processes.isEmpty else { throw Refusal.malformed("image has no PROCESS section after its inventory") }
        if h.tree.isEmpty { h.tree = TreeState(legacy: h.processes) }
        // Also for a stream, which swiftcr verify cannot check ahead: nothing built later may meet a duplicate.
        if let bad = ImageVerifier.recordProblems(processes: h.processes, zombies: h.zombies).first {
            throw Refusal.malformed("the image is not sound: \(bad)")
        }
        h.processes = h.processes.map(relocation.apply(to:))
        return h
    }

    /// The first reason this machine and caller cannot restart the image.
    /// Mappings saved whole come back from the image whatever became of their
    /// file; a shared mapping shows the file as it is now (as under BLCR); a
    /// private one whose file changed would mix old and new pages: refused.
    public func refusal(machine: String, uid: UInt32) -> Refusal? {
        guard inventory.machine == machine else { return .architecture(image: inventory.machine, machine: machine) }
        // Unlinked files the image saves for a descriptor: a private mapping of one is made from it.
        let savedUnlinked = Set(processes.flatMap { $0.files.filter { $0.kind == .unlinked && $0.fileContents != nil }.map { [$0.device, $0.inode] } })
        for p in processes {
            if uid != 0, let owner = p.uids.first, owner != UInt64(uid) { return .owner(uid: owner, caller: uid) }
            // A process of a saved mount namespace maps files of mounts the restart makes first: its stub finds them.
            for m in p.mappings where (m.kind == .privateFile || m.kind == .sharedFile) && !m.savedWhole && p.mountNamespace == 0 {
                guard let path = m.path else { continue }
                if m.kind == .privateFile && path.hasSuffix(" (deleted)") {
                    if savedUnlinked.contains([m.device, m.inode]) { continue }
                    return .missingFile(path: path, address: m.start, errno: ENOENT)
                }
                var st = stat()
                guard stat(path, &st) == 0 else { return .missingFile(path: path, address: m.start, errno: errno) }
                if m.kind == .privateFile && !m.fileMatches(st) {
                    return .changedFile(path: path, address: m.start, size: m.fileSize, now: Int64(st.st_size))
                }
            }
        }
        return nil
    }
}
