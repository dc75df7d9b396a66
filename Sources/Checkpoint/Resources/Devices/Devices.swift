import CheckpointImage
import Glibc

/// A character device reopened by name, as BLCR does (/dev/null, zero,
/// full, random, urandom, tty, a pseudo-terminal).
enum Devices: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.device]
    static let reopenable: Set<String> = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]

    static func claims(_ d: OpenDescriptor) -> Bool {
        d.mode == S_IFCHR && (reopenable.contains(d.link) || d.link.hasPrefix("/dev/pts/"))
    }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .device
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        try PathReopen.open(f, source: f.path, in: c, noCTTY: true)
    }
}
