/// A pidfd: the process it refers to (its PID as the holder saw it), or
/// -1 for one that has exited and been reaped.
public struct PidFDRecord: DescriptorPayloadRecord {
    public var pid: Int64
    public init(pid: Int64) { self.pid = pid }

    enum Tag: UInt16, CaseIterable { case pid = 1 }

    func encode(into e: inout RecordEncoder) { e.i64(Tag.pid.rawValue, pid) }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        pid = try d.i64(Tag.pid.rawValue, "pidfd pid")
        guard pid == -1 || (1...Int64(Int32.max)).contains(pid) else {
            throw ImageError.malformed(what: "pidfd fd \(fd): pid \(pid)", offset: d.base)
        }
    }

    /// Kind 19 is new in 1.3: no image before it has one.
    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        throw ImageError.malformed(what: "pidfd fd \(fd) without its record", offset: legacy.base)
    }
}
