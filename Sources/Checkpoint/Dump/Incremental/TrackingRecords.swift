import Glibc
import LinuxKit

/// What a tracked process carries between checkpoints, kept outside it: the
/// descriptor number of the userfaultfd that tracks its writes, and the ID
/// of the image whose commit last protected its pages (written pages are
/// "written since that image"). One small file per process, named by PID
/// and start time so a reused PID never inherits a record, in a directory
/// only the user can write.
struct TrackingRecord: Equatable {
    var fd: Int32
    var imageID: UInt64
    /// The address ranges of the mappings swiftcr registered (smaps shows
    /// the program's own registrations the same way).
    var ranges: [Range<UInt64>] = []
}

extension Array where Element == Range<UInt64> {
    /// Whether any of these ranges (sorted by address, apart) overlaps
    /// `range`: a binary search, for processes with many mappings.
    func anyOverlaps(_ range: Range<UInt64>) -> Bool {
        var low = 0, high = count  // the first range ending after range's start
        while low < high {
            let mid = (low + high) / 2
            if self[mid].upperBound <= range.lowerBound { low = mid + 1 } else { high = mid }
        }
        return low < count && self[low].lowerBound < range.upperBound
    }
}

enum TrackingRecords {
    /// $XDG_RUNTIME_DIR/swiftcr where that exists, else /tmp/swiftcr-UID.
    static var directory: String {
        if let run = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), !run.isEmpty, access(run, W_OK) == 0 {
            return run + "/swiftcr"
        }
        return "/tmp/swiftcr-\(getuid())"
    }

    /// The process's start time (clock ticks after boot, /proc/PID/stat field 22).
    static func startTime(_ pid: pid_t) -> UInt64? {
        guard let text = try? Sys.readText("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    static func path(_ pid: pid_t) -> String? {
        startTime(pid).map { "\(directory)/track-\(pid)-\($0)" }
    }

    /// The record of a live process, if its descriptor is still a userfaultfd.
    static func read(_ pid: pid_t) -> TrackingRecord? {
        guard let path = path(pid), let text = try? Sys.readText(path) else { return nil }
        var fd: Int32?, id: UInt64?
        var ranges: [Range<UInt64>] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 3, parts[0] == "range", let s = UInt64(parts[1], radix: 16), let e = UInt64(parts[2], radix: 16), s < e {
                ranges.append(s..<e)
            }
            guard parts.count == 2 else { continue }
            if parts[0] == "fd" { fd = Int32(parts[1]) }
            if parts[0] == "image" { id = UInt64(parts[1], radix: 16) }
        }
        guard let fd, let id, fd >= 0,
              let link = try? Sys.readLink("/proc/\(pid)/fd/\(fd)"),
              String(decoding: link, as: UTF8.self) == "anon_inode:[userfaultfd]" else { return nil }
        return TrackingRecord(fd: fd, imageID: id, ranges: ranges.sorted { $0.lowerBound < $1.lowerBound })
    }

    /// Written whole under a temporary name, then renamed over the old record.
    static func write(_ pid: pid_t, _ record: TrackingRecord) throws {
        guard let path = path(pid) else { throw CheckpointError(ESRCH, "process \(pid) is gone") }
        let dir = directory
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw CheckpointError(errno, "\(dir): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard lstat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, st.st_uid == getuid(), st.st_mode & 0o022 == 0 else {
            throw CheckpointError(EPERM, "\(dir) is not a directory only uid \(getuid()) may write")
        }
        let temporary = path + ".new"
        let text = "fd \(record.fd)\nimage \(String(record.imageID, radix: 16))\n"
            + record.ranges.map { "range \(String($0.lowerBound, radix: 16)) \(String($0.upperBound, radix: 16))\n" }.joined()
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CheckpointError(errno, "\(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard n == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CheckpointError(EIO, "cannot write the tracking record \(path)")
        }
    }

    static func remove(_ pid: pid_t) {
        if let path = path(pid) { unlink(path) }
    }
}
