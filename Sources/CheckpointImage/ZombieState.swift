/// A child that had exited but was not yet reaped when checkpointed: it is
/// recreated as a zombie of its parent, with the same wait status.
public struct ZombieState: Equatable, Sendable {
    public var pid: Int32
    public var ppid: Int32
    public var pgid: Int32
    public var sid: Int32
    /// The wait status its parent will see (exit code << 8, or the killing signal).
    public var waitStatus: Int32
    /// Since 1.3: the cr_checkpoint that took this image, a child of the
    /// process (a program that ran it through system()): made again, when
    /// its PID is free, so that wait gives its exit status 0 after a restart.
    public var checkpointer = false

    public init(pid: Int32, ppid: Int32, pgid: Int32, sid: Int32, waitStatus: Int32) {
        self.pid = pid; self.ppid = ppid; self.pgid = pgid; self.sid = sid; self.waitStatus = waitStatus
    }

    /// Numbered by hand: a tag's number is the format, never its position here.
    enum Tag: UInt16, CaseIterable {
        case pid = 1, ppid = 2, pgid = 3, sid = 4, status = 5, checkpointer = 6
    }

    public func encode() -> [UInt8] {
        var e = RecordEncoder()
        e.i64(Tag.pid.rawValue, Int64(pid))
        e.i64(Tag.ppid.rawValue, Int64(ppid))
        e.i64(Tag.pgid.rawValue, Int64(pgid))
        e.i64(Tag.sid.rawValue, Int64(sid))
        e.i64(Tag.status.rawValue, Int64(waitStatus))
        if checkpointer { e.u64(Tag.checkpointer.rawValue, 1) }
        return e.bytes
    }

    public init(decoding d: RecordDecoder) throws {
        pid = try d.i32(Tag.pid.rawValue, "zombie pid")
        ppid = try d.i32(Tag.ppid.rawValue, "zombie ppid")
        pgid = try d.i32(Tag.pgid.rawValue, "zombie pgid")
        sid = try d.i32(Tag.sid.rawValue, "zombie sid")
        waitStatus = try d.i32(Tag.status.rawValue, "zombie wait status")
        checkpointer = try d.u64(Tag.checkpointer.rawValue, default: 0) != 0
        guard pid > 0, ppid > 0 else { throw ImageError.malformed(what: "zombie \(pid) of parent \(ppid)", offset: d.base) }
    }
}
