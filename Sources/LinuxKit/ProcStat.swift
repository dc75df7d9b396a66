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

    /// Parses the single line of /proc/PID/stat. The command may hold spaces
    /// and parentheses, so it runs from the first '(' to the last ')'.
    public init(parsing text: String) throws {
        func fail(_ why: String) -> ProcParseError { ProcParseError(file: "stat", line: 1, reason: why) }
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close else {
            throw fail("no (comm) field")
        }
        guard let pid = Int32(text[..<open].trimmingSpaces) else { throw fail("bad pid") }
        let rest = text[text.index(after: close)...].split(whereSeparator: { $0 == " " || $0 == "\n" })
        // rest[0] is field 3 (state); field n is rest[n - 3].
        guard rest.count >= 49 else { throw fail("only \(rest.count + 2) fields") }
        func num(_ n: Int) throws -> UInt64 {
            let s = rest[n - 3].trimmingSpaces
            if let v = UInt64(s) { return v }
            if let v = Int64(s) { return UInt64(bitPattern: v) }
            throw fail("field \(n) is not a number: '\(s)'")
        }
        self.pid = pid
        self.comm = String(text[text.index(after: open)..<close])
        self.state = rest[0].first ?? "?"
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
    }

    public static func read(pid: Int32) throws -> ProcStat {
        try ProcStat(parsing: try Sys.readText("/proc/\(pid)/stat"))
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
