import CheckpointImage
import LinuxKit

/// Decides how each mapping is saved and restored.
enum MappingClassifier {
    static func kind(of m: MapsEntry) -> Mapping.Kind {
        switch m.path {
        case "[vdso]", "[vvar]", "[vvar_vclock]": return .vdso
        case "[vsyscall]", "[uprobes]": return .kernelFixed
        default: break
        }
        if m.path?.hasPrefix("socket:[") == true { return .packetRing }
        if m.shared {
            if m.path?.hasPrefix("/SYSV") == true { return .sysvShm }
            if m.deleted && m.path == "/[aio]" { return .aioRing }
            // /dev/zero (deleted), memfd: shared memory with no file to go back to.
            if m.deleted || !m.isFileBacked || m.path?.hasPrefix("/dev/zero") == true { return .sharedAnonymous }
            return .sharedFile
        }
        // A private view of shared memory follows the object until written to.
        if m.deleted && (m.path?.hasPrefix("/dev/zero") == true || m.path?.hasPrefix("/memfd:") == true) { return .privateShared }
        // A private mapping of a deleted file cannot be reopened: keep all of its pages.
        if m.isFileBacked && !m.deleted { return .privateFile }
        return .anonymous
    }

    /// Which pages of the mapping go into the image, from its pagemap entry.
    static func shouldSave(_ entry: UInt64, kind: Mapping.Kind) -> Bool {
        if entry & Pagemap.guardRegion != 0 { return false }
        let present = entry & Pagemap.present != 0
        let swapped = entry & Pagemap.swapped != 0
        switch kind {
        case .anonymous:
            return present || swapped
        case .sharedAnonymous, .sysvShm, .aioRing:
            // Another process may have filled pages this one never touched:
            // pagemap shows only our PTEs, so read them all (zero pages are dropped later).
            return true
        case .privateFile, .privateShared:
            // Only pages copied on write differ from the file; those are anonymous.
            return swapped || (present && entry & Pagemap.fileOrShared == 0)
        case .sharedFile, .vdso, .kernelFixed, .packetRing, .unknown:
            return false
        }
    }

    /// madvise state as smaps shows it. The kernel marks [vdso] "dd" itself.
    static func advice(_ m: MapsEntry) -> Mapping.Advice {
        var a: Mapping.Advice = []
        if m.vmFlags.contains("hg") { a.insert(.hugePage) }
        if m.vmFlags.contains("nh") { a.insert(.noHugePage) }
        if m.vmFlags.contains("dd") { a.insert(.dontDump) }
        if m.vmFlags.contains("dc") { a.insert(.dontFork) }
        if m.vmFlags.contains("wf") { a.insert(.wipeOnFork) }
        if m.vmFlags.contains("lo") { a.insert(.locked) }
        if m.vmFlags.contains("sr") { a.insert(.sequential) }
        if m.vmFlags.contains("rr") { a.insert(.random) }
        if m.vmFlags.contains("mg") { a.insert(.mergeable) }
        if m.vmFlags.contains("nr") { a.insert(.noReserve) }
        if m.vmFlags.contains("dp") { a.insert(.droppable) }
        if m.shared && m.vmFlags.contains("mw") { a.insert(.mayWrite) }
        if m.vmFlags.contains("sl") { a.insert(.sealed) }
        return a
    }

    static func protection(_ m: MapsEntry) -> UInt32 {
        (m.readable ? 1 : 0) | (m.writable ? 2 : 0) | (m.executable ? 4 : 0)
    }
}
