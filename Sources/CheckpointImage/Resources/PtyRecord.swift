/// The master side of a pseudo-terminal (/dev/ptmx): its index (which
/// /dev/pts/N), lock and packet mode, and the terminal's settings.
public struct PtyRecord: DescriptorPayloadRecord {
    public var index: UInt64
    public var locked: Bool
    public var packetMode: Bool
    /// struct termios as TCGETS gives it (the kernel's, 36 bytes), and struct winsize (8).
    public var termios: [UInt8]
    public var windowSize: [UInt8]
    /// Bytes waiting to be read on the slave side (typed in), and on the master side (written out).
    public var input: [UInt8] = []
    public var output: [UInt8] = []
    /// The slave node's owner and mode (uid, gid, mode), as grantpt or the program left them.
    public var node: [UInt64] = []

    public init(index: UInt64, locked: Bool, packetMode: Bool, termios: [UInt8], windowSize: [UInt8]) {
        self.index = index; self.locked = locked; self.packetMode = packetMode; self.termios = termios; self.windowSize = windowSize
    }

    enum Tag: UInt16, CaseIterable { case index = 1, locked = 2, packetMode = 3, termios = 4, windowSize = 5, input = 6, output = 7, node = 8 }

    func encode(into e: inout RecordEncoder) {
        e.u64(Tag.index.rawValue, index)
        if locked { e.u64(Tag.locked.rawValue, 1) }
        if packetMode { e.u64(Tag.packetMode.rawValue, 1) }
        e.raw(Tag.termios.rawValue, termios)
        e.raw(Tag.windowSize.rawValue, windowSize)
        if !input.isEmpty { e.raw(Tag.input.rawValue, input) }
        if !output.isEmpty { e.raw(Tag.output.rawValue, output) }
        if !node.isEmpty { e.u64s(Tag.node.rawValue, node) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        self.init(index: try d.u64(Tag.index.rawValue, "pty index"), locked: try d.flag(Tag.locked.rawValue, fd: fd, "locked"),
                  packetMode: try d.flag(Tag.packetMode.rawValue, fd: fd, "packet mode"),
                  termios: d.raw(Tag.termios.rawValue) ?? [], windowSize: d.raw(Tag.windowSize.rawValue) ?? [])
        input = d.raw(Tag.input.rawValue) ?? []
        output = d.raw(Tag.output.rawValue) ?? []
        node = try d.u64s(Tag.node.rawValue)
        guard node.isEmpty || (node.count == 3 && node[0] <= UInt64(UInt32.max) && node[1] <= UInt64(UInt32.max) && node[2] <= 0o7777) else {
            throw ImageError.malformed(what: "pty fd \(fd): slave node \(node)", offset: d.base)
        }
        guard index < 1 << 20, termios.isEmpty || termios.count == 36, windowSize.isEmpty || windowSize.count == 8 else {
            throw ImageError.malformed(what: "pty fd \(fd): index \(index), termios \(termios.count) bytes, winsize \(windowSize.count)", offset: d.base)
        }
    }

    /// Kind 21 is new in 1.3: no image before it has one.
    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        throw ImageError.malformed(what: "pty fd \(fd) without its record", offset: legacy.base)
    }
}
