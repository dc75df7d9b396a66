import CheckpointImage
import Glibc
import LinuxKit

/// eventfd: its counter and semaphore mode, from fdinfo (fs/eventfd.c).
enum EventFDs: FDInfoKind {
    static let imageKind = FileDescriptorState.Kind.eventfd
    static func payload(_ r: EventFDRecord) -> DescriptorPayload { .eventfd(r) }

    static func parse(_ d: OpenDescriptor) -> EventFDRecord? {
        guard d.link == "anon_inode:[eventfd]" else { return nil }
        let f = ProcStatus(parsing: d.fdinfo).fields
        guard let count = f["eventfd-count"].flatMap({ UInt64($0, radix: 16) }) else { return nil }
        return EventFDRecord(count: count, semaphore: f["eventfd-semaphore"] == "1")
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard let r = f.eventfd else { throw CheckpointError(EINVAL, "fd \(f.fd): eventfd record missing") }
        let flags = UInt64(f.flags) & UInt64(O_NONBLOCK) | (r.semaphore ? 1 : 0)  // EFD_SEMAPHORE
        let fd = try c.session.call("eventfd2", NR.eventfd2, 0, flags)
        if r.count > 0 { try c.session.call("write(eventfd)", NR.write, fd, try c.session.put(value: r.count), 8) }
        return .remote(fd)
    }
}
