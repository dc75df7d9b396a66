import CheckpointImage
import Glibc

/// The image an incremental checkpoint builds on, as its INVENTORY names it:
/// the absolute path, the parent's ID and its INDEX checksum, which a
/// restart checks so that a replaced or rewritten parent is refused.
enum ParentImage {
    static func link(_ path: String, target: pid_t) throws -> Inventory.ParentLink {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno, "parent image \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        do {
            let reader = try ImageReader(fd: fd)
            reader.loadPages = false
            guard case .inventory(let inventory)? = try reader.next() else {
                throw CheckpointError(EINVAL, "parent image \(path): no INVENTORY first")
            }
            guard inventory.imageID != 0 else {
                throw CheckpointError(EINVAL, "parent image \(path) has no image ID (made before format 1.5): make a new one with --pre-dump")
            }
            guard inventory.target == target else {
                throw CheckpointError(EINVAL, "parent image \(path) is of process \(inventory.target), not \(target)")
            }
            let index = try ImageIndex.load(fd: fd)
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let absolute = realpath(path, &buffer) != nil ? String(cString: buffer) : path
            return Inventory.ParentLink(path: absolute, imageID: inventory.imageID, indexChecksum: index.checksum)
        } catch let e as ImageError {
            throw CheckpointError(e.errnoCode, "parent image \(path): \(e)")
        }
    }

    /// A new image's ID: random, never 0.
    static func newID() -> UInt64 {
        var id: UInt64 = 0
        while id == 0 { id = UInt64.random(in: 1...UInt64.max) }
        return id
    }
}
