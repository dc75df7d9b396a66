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
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            lineNumber += 1
            result.append(try parseLine(Substring(line), file: file, line: lineNumber))
        }
        return result
    }

    /// Parses /proc/PID/smaps: maps header lines followed by `Key: value` lines.
    public static func parseSmaps(_ text: String, file: String = "smaps") throws -> [MapsEntry] {
        var result: [MapsEntry] = []
        var lineNumber = 0
        // Bytes, not Characters: smaps has ~25 lines per mapping, and a
        // process may have tens of thousands of mappings.
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            lineNumber += 1
            let firstEnd = line.firstIndex(of: UInt8(ascii: " ")) ?? line.endIndex
            let first = line[line.startIndex..<firstEnd]
            if first.last == UInt8(ascii: ":") {
                guard !result.isEmpty else { throw ProcParseError(file: file, line: lineNumber, reason: "field before any mapping") }
                if first.elementsEqual("VmFlags:".utf8) {
                    let flags = line[firstEnd...].split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
                    result[result.count - 1].vmFlags = Set(flags)
                }
            } else {
                result.append(try parseLine(Substring(line), file: file, line: lineNumber))
            }
        }
        return result
    }

    static func parseLine(_ line: Substring, file: String, line number: Int) throws -> MapsEntry {
        func fail(_ why: String) -> ProcParseError { ProcParseError(file: file, line: number, reason: why) }
        var rest = line[...]
        func field() -> Substring {
            rest = rest.drop { $0 == " " }
            let f = rest.prefix { $0 != " " }
            rest = rest.dropFirst(f.count)
            return f
        }
        let range = field(), perms = field(), offset = field(), dev = field(), inode = field()
        let bounds = range.split(separator: "-")
        let devParts = dev.split(separator: ":")
        guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16), start <= end else {
            throw fail("bad address range '\(range)'")
        }
        let p = Array(perms.utf8)
        guard p.count == 4 else { throw fail("bad permissions '\(perms)'") }
        guard let off = UInt64(offset, radix: 16) else { throw fail("bad offset '\(offset)'") }
        guard devParts.count == 2, let major = UInt32(devParts[0], radix: 16), let minor = UInt32(devParts[1], radix: 16) else {
            throw fail("bad device '\(dev)'")
        }
        guard let ino = UInt64(inode) else { throw fail("bad inode '\(inode)'") }
        // The path is everything after the padding; it may hold spaces.
        var name = String(rest.drop { $0 == " " })
        var deleted = false
        if name.hasSuffix(" (deleted)") {
            deleted = true
            name.removeLast(" (deleted)".count)
        }
        return MapsEntry(
            start: start, end: end,
            readable: p[0] == UInt8(ascii: "r"), writable: p[1] == UInt8(ascii: "w"),
            executable: p[2] == UInt8(ascii: "x"), shared: p[3] == UInt8(ascii: "s"),
            offset: off, deviceMajor: major, deviceMinor: minor, inode: ino,
            path: name.isEmpty ? nil : unescapeNewlines(name), deleted: deleted)
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
