import CheckpointImage
import Glibc
import LinuxKit

/// The pages a process shared with its parent (copy-on-write) where the
/// restore could not fork it from that parent (StubTree.inheritsElsewhere):
/// its mappings are made as if every page were its own, and the shared
/// ones are copied from the parent's restored memory, a MiB at a time.
enum InheritedPagesCopy {
    /// The process as its restore sees it: no page kept from a fork.
    static func ownEveryPage(_ p: ProcessState) -> ProcessState {
        var own = p
        for i in own.mappings.indices { own.mappings[i].inheritedRuns = [] }
        return own
    }

    /// Copies `p`'s inherited ranges from `parent` into `child` (mappings made, writable).
    static func copy(_ p: ProcessState, from parent: RemoteMemory, into child: RemoteMemory) throws {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        for r in p.mappings.flatMap(\.inheritedRanges) {
            var at = r.address
            while at < r.address + r.length {
                let count = Int(min(UInt64(chunk), r.address + r.length - at))
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
                do {
                    try parent.read(ranges: [(at, count)], into: slice)
                    try child.write(ranges: [(at, count)], from: UnsafeRawBufferPointer(slice))
                } catch {
                    throw CheckpointError(EFAULT, "process \(p.pid): copying the pages at 0x\(String(at, radix: 16)) it shared with its parent \(p.ppid): \(error)")
                }
                at += UInt64(count)
            }
        }
    }
}
