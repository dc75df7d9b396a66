/// One line of /proc/PID/maps (and the header line of each smaps entry).
public struct MapsEntry: Equatable, Sendable {
    public var start: UInt64
    public var end: UInt64
    public var readable: Bool
    public var writable: Bool
    public var executable: Bool
    public var shared: Bool
    public var offset: UInt64
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    public var inode: UInt64
    /// The path or pseudo-name (`[heap]`, `[anon:x]`), unescaped, without " (deleted)"; nil if none.
    public var path: String?
    /// The kernel marked the file " (deleted)".
    public var deleted: Bool
    /// smaps VmFlags (`rd`, `wr`, `gd`, `dd`...), empty when read from maps.
    public var vmFlags: Set<String> = []
    /// smaps KernelPageSize in bytes (a hugetlb mapping's huge page size); 4096 when read from maps.
    public var kernelPageSize: UInt64 = 4096
    /// A hugetlb mapping (MAP_HUGETLB, a hugetlbfs file or memfd, SHM_HUGETLB): its huge page size, else 0.
    public var hugetlbPageSize: UInt64 { vmFlags.contains("ht") ? kernelPageSize : 0 }

    public var length: UInt64 { end - start }
    public var protectionString: String {
        (readable ? "r" : "-") + (writable ? "w" : "-") + (executable ? "x" : "-") + (shared ? "s" : "p")
    }
    /// A kernel special area ([vdso], [vvar], [vvar_vclock], [vsyscall], [uprobes]).
    public var isKernelSpecial: Bool {
        switch path {
        case "[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[uprobes]": return true
        default: return false
        }
    }
    /// Backed by a file in the file system (not anonymous, not a pseudo-name).
    public var isFileBacked: Bool { inode != 0 && (path?.hasPrefix("/") ?? false) }
}

public struct ProcParseError: Error, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var reason: String
    public var description: String { "\(file): line \(line): \(reason)" }
}

public enum ProcMaps {
    /// Parses the text of /proc/PID/maps.
    public static func parse(_ text: String, file: String = "maps") throws -> [MapsEntry] {
        var result: [MapsEntry] = []
        var lineNumber = 0
        // Bytes, not Characters: a restart reads the maps of every process it builds.
        let bytes = Array(text.utf8)
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            lineNumber += 1
            result.append(try parseLine(line, file: file, line: lineNumber))
        }
        return result
    }

    /// Parses /proc/PID/smaps: maps header lines followed by `Key: value` lines.
    public static func parseSmaps(_ text: String, file: String = "smaps") throws -> [MapsEntry] {
        var result: [MapsEntry] = []
        var lineNumber = 0
        // smaps has ~25 lines per mapping, and a process may have tens of thousands of mappings.
        let bytes = Array(text.utf8)
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            lineNumber += 1
            let firstEnd = line.firstIndex(of: UInt8(ascii: " ")) ?? line.endIndex
            let first = line[line.startIndex..<firstEnd]
            if first.last == UInt8(ascii: ":") {
                guard !result.isEmpty else { throw ProcParseError(file: file, line: lineNumber, reason: "field before any mapping") }
                if first.elementsEqual("VmFlags:".utf8) {
                    let flags = line[firstEnd...].split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
                    result[result.count - 1].vmFlags = Set(flags)
                } else if first.elementsEqual("KernelPageSize:".utf8) {
                    let value = line[firstEnd...].split(separator: UInt8(ascii: " ")).first
                    if let kib = value.flatMap({ unsigned($0, radix: 10) }), kib > 0, kib <= 1 << 24 { result[result.count - 1].kernelPageSize = kib * 1024 }
                }
            } else {
                result.append(try parseLine(line, file: file, line: lineNumber))
            }
        }
        return result
    }

    static func parseLine(_ line: ArraySlice<UInt8>, file: String, line number: Int) throws -> MapsEntry {
        func fail(_ why: String) -> ProcParseError { ProcParseError(file: file, line: number, reason: why) }
        func text(_ f: ArraySlice<UInt8>) -> String { String(decoding: f, as: UTF8.self) }
        let space = UInt8(ascii: " ")
        var i = line.startIndex
        func field() -> ArraySlice<UInt8> {
            while i < line.endIndex, line[i] == space { i += 1 }
            let from = i
            while i < line.endIndex, line[i] != space { i += 1 }
            return line[from..<i]
        }
        let range = field(), perms = field(), offset = field(), dev = field(), inode = field()
        guard let dash = range.firstIndex(of: UInt8(ascii: "-")), let start = unsigned(range[..<dash], radix: 16),
              let end = unsigned(range[(dash + 1)...], radix: 16), start <= end else {
            throw fail("bad address range '\(text(range))'")
        }
        guard perms.count == 4 else { throw fail("bad permissions '\(text(perms))'") }
        let p = Array(perms)
        guard let off = unsigned(offset, radix: 16) else { throw fail("bad offset '\(text(offset))'") }
        guard let colon = dev.firstIndex(of: UInt8(ascii: ":")), let major = unsigned(dev[..<colon], radix: 16), major <= UInt32.max,
              let minor = unsigned(dev[(colon + 1)...], radix: 16), minor <= UInt32.max else {
            throw fail("bad device '\(text(dev))'")
        }
        guard let ino = unsigned(inode, radix: 10) else { throw fail("bad inode '\(text(inode))'") }
        // The path is everything after the padding; it may hold spaces.
        while i < line.endIndex, line[i] == space { i += 1 }
        var name = line[i...]
        let deletedMark = " (deleted)".utf8
        let deleted = name.count >= deletedMark.count && name.suffix(deletedMark.count).elementsEqual(deletedMark)
        if deleted { name = name.dropLast(deletedMark.count) }
        return MapsEntry(
            start: start, end: end,
            readable: p[0] == UInt8(ascii: "r"), writable: p[1] == UInt8(ascii: "w"),
            executable: p[2] == UInt8(ascii: "x"), shared: p[3] == UInt8(ascii: "s"),
            offset: off, deviceMajor: UInt32(major), deviceMinor: UInt32(minor), inode: ino,
            path: name.isEmpty ? nil : unescapeNewlines(text(name)), deleted: deleted)
    }

    /// An unsigned number in base 16 or 10; nil if empty, not a digit, or past 64 bits.
    static func unsigned(_ digits: ArraySlice<UInt8>, radix: UInt64) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var v: UInt64 = 0
        for c in digits {
            let d: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: d = UInt64(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: d = UInt64(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
            let (m, o1) = v.multipliedReportingOverflow(by: radix)
            let (a, o2) = m.addingReportingOverflow(d)
            guard !o1, !o2 else { return nil }
            v = a
        }
        return v
    }

    /// The kernel prints a newline inside a path as the octal escape `\012`.
    static func unescapeNewlines(_ s: String) -> String {
        s.contains("\\012") ? s.replacingOccurrences(of: "\\012", with: "\n") : s
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = self[...]
        while let r = rest.range(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

extension Substring {
    func range(of target: String) -> Range<Substring.Index>? {
        guard let first = target.first else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i] == first, self[i...].hasPrefix(target) {
                return i..<index(i, offsetBy: target.count)
            }
            i = index(after: i)
        }
        return nil
    }
}

/// dev_t packing as glibc's makedev does it.
public enum Device {
    public static func make(major: UInt32, minor: UInt32) -> UInt64 {
        let ma = UInt64(major), mi = UInt64(minor)
        return ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
    }

    public static func major(_ dev: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) }
    public static func minor(_ dev: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) }
}
