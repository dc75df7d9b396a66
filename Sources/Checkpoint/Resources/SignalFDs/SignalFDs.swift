import CheckpointImage
import Glibc
import LinuxKit

/// signalfd: the signals it reads, from fdinfo (fs/signalfd.c).
enum SignalFDs: FDInfoKind {
    static let imageKind = FileDescriptorState.Kind.signalfd
    static func payload(_ r: SignalFDRecord) -> DescriptorPayload { .signalfd(r) }

    static func parse(_ d: OpenDescriptor) -> SignalFDRecord? {
        guard d.link == "anon_inode:[signalfd]",
              let mask = ProcStatus(parsing: d.fdinfo).fields["sigmask"].flatMap({ UInt64($0, radix: 16) }) else { return nil }
        return SignalFDRecord(mask: mask)
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard let r = f.signalfd else { throw CheckpointError(EINVAL, "fd \(f.fd): signalfd record missing") }
        let nonblock = UInt64(f.flags) & UInt64(O_NONBLOCK)
        return .remote(try c.session.call("signalfd4", NR.signalfd4, UInt64.max, try c.session.put(value: r.mask), 8, nonblock))
    }
}
