/// One entry of /proc/PID/timers (POSIX timers; needs CONFIG_CHECKPOINT_RESTORE).
public struct ProcTimer: Equatable, Sendable {
    public var id: Int32
    public var signal: Int32
    public var value: UInt64
    /// "signal", "none" or "thread" (SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD).
    public var notify: String
    /// True for SIGEV_THREAD_ID ("tid.N"), false for a process target ("pid.N").
    public var toThread: Bool
    public var target: Int32
    public var clock: Int32

    public init(id: Int32, signal: Int32, value: UInt64, notify: String, toThread: Bool, target: Int32, clock: Int32) {
        self.id = id; self.signal = signal; self.value = value; self.notify = notify
        self.toThread = toThread; self.target = target; self.clock = clock
    }

    /// Parses the file: blocks of `ID:`, `signal: SIG/VALUE`, `notify: KIND/pid.N|tid.N`, `ClockID:`.
    public static func parse(_ text: String) throws -> [ProcTimer] {
        var out: [ProcTimer] = []
        var current: ProcTimer?
        for (n, line) in text.split(separator: "\n").enumerated() {
            func bad(_ why: String) -> ProcParseError { ProcParseError(file: "timers", line: n + 1, reason: why) }
            guard let colon = line.firstIndex(of: ":") else { throw bad("no colon") }
            let key = line[..<colon]
            let value = line[line.index(after: colon)...].trimmingSpaces
            switch key {
            case "ID":
                if let c = current { out.append(c) }
                guard let id = Int32(value) else { throw bad("bad ID") }
                current = ProcTimer(id: id, signal: 0, value: 0, notify: "signal", toThread: false, target: 0, clock: 0)
            case "signal":
                let parts = value.split(separator: "/")
                guard parts.count == 2, let s = Int32(parts[0]), let v = UInt64(parts[1], radix: 16) else { throw bad("bad signal") }
                current?.signal = s
                current?.value = v
            case "notify":
                let parts = value.split(separator: "/")
                guard parts.count == 2 else { throw bad("bad notify") }
                let who = parts[1].split(separator: ".")
                guard who.count == 2, let t = Int32(who[1]) else { throw bad("bad notify target") }
                current?.notify = String(parts[0])
                current?.toThread = who[0] == "tid"
                current?.target = t
            case "ClockID":
                guard let c = Int32(value) else { throw bad("bad ClockID") }
                current?.clock = c
            default:
                continue
            }
        }
        if let c = current { out.append(c) }
        return out
    }
}

/// A lock line of /proc/PID/fdinfo/FD: `lock:\t1: FLOCK  ADVISORY  WRITE 123 fe:00:456 0 EOF`.
public struct FileLockInfo: Equatable, Sendable {
    public enum Kind: String, Sendable { case flock = "FLOCK", posix = "POSIX", ofd = "OFDLCK" }
    public var kind: Kind
    public var write: Bool
    public var start: UInt64
    /// Last byte locked, or nil for "to the end of file".
    public var end: UInt64?

    public init(kind: Kind, write: Bool, start: UInt64, end: UInt64?) {
        self.kind = kind; self.write = write; self.start = start; self.end = end
    }

    /// The locks of one descriptor; leases, delegations and unknown kinds are skipped.
    public static func parse(fdinfo text: String) -> [FileLockInfo] {
        var out: [FileLockInfo] = []
        for line in text.split(separator: "\n") where line.hasPrefix("lock:") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            // lock: N: KIND ADVISORY|MANDATORY TYPE PID DEV:INO START END
            guard words.count >= 9, let kind = Kind(rawValue: String(words[2])), let start = UInt64(words[7]) else { continue }
            let end = words[8] == "EOF" ? nil : UInt64(words[8])
            if words[8] != "EOF" && end == nil { continue }
            // A blocked waiter's line starts "-> "; only held locks are listed this way.
            guard words[4] == "READ" || words[4] == "WRITE" else { continue }
            out.append(FileLockInfo(kind: kind, write: words[4] == "WRITE", start: start, end: end))
        }
        return out
    }

    /// The lease held through this open file, from fdinfo: 0 "LEASE ACTIVE
    /// READ", 1 "ACTIVE WRITE", 2 "BREAKING UNLCK" (being broken, to be
    /// given up), 3 "BREAKING READ" (a write lease being cut to read); nil for none.
    public static func lease(fdinfo text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("lock:") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 5, words[2] == "LEASE" else { continue }
            switch (words[3], words[4]) {
            case ("ACTIVE", "READ"): return 0
            case ("ACTIVE", "WRITE"): return 1
            case ("BREAKING", "UNLCK"): return 2
            case ("BREAKING", "READ"): return 3
            default: continue
            }
        }
        return nil
    }
}
