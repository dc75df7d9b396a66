/// The fields of /proc/PID/stat that checkpointing needs.
public struct ProcStat: Equatable, Sendable {
    public var pid: Int32
    public var comm: String
    public var state: Character
    public var ppid: Int32
    public var pgrp: Int32
    public var session: Int32
    /// The controlling terminal's device number (kernel encoding) and its foreground group; 0 and -1 for none.
    public var ttyNumber: UInt32 = 0
    public var terminalGroup: Int32 = -1
    public var threads: Int
    public var startCode: UInt64, endCode: UInt64, startStack: UInt64
    public var startData: UInt64, endData: UInt64, startBrk: UInt64
    public var argStart: UInt64, argEnd: UInt64, envStart: UInt64, envEnd: UInt64
    /// Field 52: the wait status of a task that exited (a zombie's, for its parent).
    public var exitCode: Int32
    /// Field 39: the CPU the task last ran on.
    public var processor: Int
    /// Field 9: the kernel's task flags (PF_*).
    public var flags: UInt32 = 0
    /// PF_IO_WORKER: a kernel thread of io_uring living in the process (iou-sqp-N, iou-wrk-N).
    public var isIOWorker: Bool { flags & 0x10 != 0 }

    /// Parses the single line of /proc/PID/stat. The command may hold spaces
    /// and parentheses, so it runs from the first '(' to the last ')'.
    public init(parsing text: String) throws {
        try self.init(bytes: Array(text.utf8))
    }

    /// The same, over the file's bytes: a tree scope reads every process's
    /// stat, so this splits fields without making a String of each.
    public init(bytes: [UInt8]) throws {
        func fail(_ why: String) -> ProcParseError { ProcParseError(file: "stat", line: 1, reason: why) }
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")), let close = bytes.lastIndex(of: UInt8(ascii: ")")), open < close else {
            throw fail("no (comm) field")
        }
        guard let pid = Self.integer(bytes[..<open].filter { $0 != UInt8(ascii: " ") }[...]).map(Int32.init(truncatingIfNeeded:)) else { throw fail("bad pid") }
        // rest[0] is field 3 (state); field n is rest[n - 3].
        var rest: [Range<Int>] = []
        var i = close + 1
        while i < bytes.count {
            while i < bytes.count, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\n") { i += 1 }
            let start = i
            while i < bytes.count, bytes[i] != UInt8(ascii: " "), bytes[i] != UInt8(ascii: "\n") { i += 1 }
            if i > start { rest.append(start..<i) }
        }
        guard rest.count >= 49 else { throw fail("only \(rest.count + 2) fields") }
        func num(_ n: Int) throws -> UInt64 {
            guard let v = Self.integer(bytes[rest[n - 3]]) else {
                throw fail("field \(n) is not a number: '\(String(decoding: bytes[rest[n - 3]], as: UTF8.self))'")
            }
            return UInt64(bitPattern: v)
        }
        self.pid = pid
        self.comm = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        self.state = Character(UnicodeScalar(bytes[rest[0].lowerBound]))
        self.ppid = Int32(truncatingIfNeeded: try num(4))
        self.pgrp = Int32(truncatingIfNeeded: try num(5))
        self.session = Int32(truncatingIfNeeded: try num(6))
        self.ttyNumber = UInt32(truncatingIfNeeded: try num(7))
        self.terminalGroup = Int32(truncatingIfNeeded: Int64(bitPattern: try num(8)))
        self.threads = Int(truncatingIfNeeded: try num(20))
        self.startCode = try num(26); self.endCode = try num(27); self.startStack = try num(28)
        self.startData = try num(45); self.endData = try num(46); self.startBrk = try num(47)
        self.argStart = try num(48); self.argEnd = try num(49); self.envStart = try num(50); self.envEnd = try num(51)
        self.exitCode = rest.count >= 50 ? Int32(truncatingIfNeeded: try num(52)) : 0
        self.processor = Int(truncatingIfNeeded: try num(39))
        self.flags = UInt32(truncatingIfNeeded: try num(9))
    }

    /// A decimal integer, optionally negative; nil for anything else or overflow.
    static func integer(_ digits: ArraySlice<UInt8>) -> Int64? {
        var d = digits[...]
        let negative = d.first == UInt8(ascii: "-")
        if negative { d = d.dropFirst() }
        guard !d.isEmpty else { return nil }
        var v: Int64 = 0
        for c in d {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c - UInt8(ascii: "0")))
            guard !o1, !o2 else { return UInt64(String(decoding: digits, as: UTF8.self)).map { Int64(bitPattern: $0) } }
            v = a
        }
        return negative ? -v : v
    }

    public static func read(pid: Int32) throws -> ProcStat {
        try ProcStat(bytes: try Sys.readFile("/proc/\(pid)/stat"))
    }
}

/// /proc/PID/status as key/value pairs, with typed accessors for the ones used.
public struct ProcStatus: Sendable {
    public var fields: [String: String] = [:]

    public init(parsing text: String) {
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...].trimmingSpaces)
        }
    }

    public static func read(pid: Int32) throws -> ProcStatus {
        ProcStatus(parsing: try Sys.readText("/proc/\(pid)/status"))
    }

    /// TracerPid alone, found in the file's bytes without parsing the rest
    /// (a checkpoint reads it for every task on the machine); nil if unreadable.
    public static func tracerPid(of pid: Int32) -> Int32? {
        guard let bytes = try? Sys.readFile("/proc/\(pid)/status") else { return nil }
        let key = Array("\nTracerPid:".utf8)
        guard bytes.count > key.count else { return nil }
        for at in 0...(bytes.count - key.count) where bytes[at] == key[0] && bytes[at..<(at + key.count)].elementsEqual(key) {
            var i = at + key.count
            while i < bytes.count, bytes[i] == UInt8(ascii: "\t") || bytes[i] == UInt8(ascii: " ") { i += 1 }
            let start = i
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
            return ProcStat.integer(bytes[start..<i]).map(Int32.init(truncatingIfNeeded:))
        }
        return nil
    }

    /// A hexadecimal signal set field (SigPnd, ShdPnd, SigBlk, SigIgn, SigCgt).
    public func signalSet(_ key: String) -> UInt64? { fields[key].flatMap { UInt64($0, radix: 16) } }
    /// Umask, printed in octal.
    public var umask: UInt32? { fields["Umask"].flatMap { UInt32($0, radix: 8) } }
    public var tracerPid: Int32? { fields["TracerPid"].flatMap { Int32($0) } }
    public var threads: Int? { fields["Threads"].flatMap { Int($0) } }
    /// Real, effective, saved and file-system IDs.
    public func ids(_ key: String) -> [UInt32] {
        (fields[key] ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
    }
}

/// /proc/PID/fdinfo/FD: position, open flags (octal) and mount id.
public struct FDInfo: Equatable, Sendable {
    public var position: Int64
    public var flags: UInt32
    public var mountID: Int

    public init(parsing text: String) throws {
        let status = ProcStatus(parsing: text)
        guard let pos = status.fields["pos"].flatMap({ Int64($0) }) else {
            throw ProcParseError(file: "fdinfo", line: 1, reason: "no pos field")
        }
        guard let flags = status.fields["flags"].flatMap({ UInt32($0, radix: 8) }) else {
            throw ProcParseError(file: "fdinfo", line: 2, reason: "no flags field")
        }
        self.position = pos
        self.flags = flags
        self.mountID = status.fields["mnt_id"].flatMap { Int($0) } ?? -1
    }
}

/// /proc/PID/auxv: (type, value) pairs of u64 up to AT_NULL.
public enum Auxv {
    public static func parse(_ bytes: [UInt8]) -> [(type: UInt64, value: UInt64)] {
        var out: [(UInt64, UInt64)] = []
        var i = 0
        while i + 16 <= bytes.count {
            let t = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i, as: UInt64.self) }
            let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self) }
            if t == 0 { break }
            out.append((t, v))
            i += 16
        }
        return out
    }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        let s = self[...].drop { $0 == " " || $0 == "\t" }
        var e = s.endIndex
        while e > s.startIndex, s[s.index(before: e)] == " " || s[s.index(before: e)] == "\t" { e = s.index(before: e) }
        return Substring(s[s.startIndex..<e])
    }
}
