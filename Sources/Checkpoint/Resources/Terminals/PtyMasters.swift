import CheckpointImage
import Glibc
import LinuxKit

/// Masters of pseudo-terminals. The index, lock, packet mode, settings
/// and window size are read through a borrowed copy (the termios and
/// window-size ioctls on a master act on its slave). The restorer makes
/// each again with the same index before any stub exists (PtyFactory), so
/// slaves reopen by path and a session leader can take its terminal back
/// before it forks.
enum PtyMasters: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.ptyMaster]
    static let getIndex: UInt = 0x8004_5430, getLock: UInt = 0x8004_5439, setLock: UInt = 0x4004_5431
    static let getPacket: UInt = 0x8004_5438, setPacket: UInt = 0x5420
    static let getTermios: UInt = 0x5401, setTermios: UInt = 0x5402, getWindow: UInt = 0x5413, setWindow: UInt = 0x5414

    static func claims(_ d: OpenDescriptor) -> Bool {
        d.mode == S_IFCHR && Device.major(UInt64(d.st.st_rdev)) == 5 && Device.minor(UInt64(d.st.st_rdev)) == 2
    }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        let copy = try SocketBorrower.borrowOnce(pid: d.pid, fd: d.fd)
        defer { close(copy) }
        var index: UInt32 = 0, locked: Int32 = 0, packet: Int32 = 0
        guard ioctl(copy, getIndex, &index) == 0 else { throw CheckpointError(errno: errno, "fd \(d.fd): TIOCGPTN") }
        _ = ioctl(copy, getLock, &locked)
        _ = ioctl(copy, getPacket, &packet)
        var termios = [UInt8](repeating: 0, count: 36), window = [UInt8](repeating: 0, count: 8)
        if ioctl(copy, getTermios, &termios) != 0 { termios = [] }
        if ioctl(copy, getWindow, &window) != 0 { window = [] }
        state.kind = .ptyMaster
        var record = PtyRecord(index: UInt64(index), locked: locked != 0, packetMode: packet != 0, termios: termios, windowSize: window)
        var st = stat()
        if stat("/dev/pts/\(index)", &st) == 0 { record.node = [UInt64(st.st_uid), UInt64(st.st_gid), UInt64(st.st_mode & 0o7777)] }
        if locked == 0 && termios.count == 36 {
            (record.input, record.output) = try Self.queues(master: copy, index: index, termios: termios)
        }
        state.payload = .pty(record)
    }

    /// What waits in each direction: read out (the terminal is frozen with
    /// its processes) and written straight back, echo and output processing
    /// off meanwhile so the bytes land as they were.
    static func queues(master: Int32, index: UInt32, termios: [UInt8]) throws -> ([UInt8], [UInt8]) {
        let slave = open("/dev/pts/\(index)", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard slave >= 0 else { return ([], []) }
        defer { close(slave) }
        let input = drain(slave), output = drain(master)
        guard !input.isEmpty || !output.isEmpty else { return ([], []) }
        try refill(master: master, slave: slave, termios: termios, input: input, output: output)
        return (input, output)
    }

    /// Writes typed-in bytes to the master and written-out bytes to the slave, as they were.
    static func refill(master: Int32, slave: Int32, termios: [UInt8], input: [UInt8], output: [UInt8]) throws {
        var quiet = termios
        quiet[12] &= ~UInt8(0o10 | 0o100)  // c_lflag: ECHO, ECHONL
        quiet[4] &= ~UInt8(1)              // c_oflag: OPOST
        _ = ioctl(master, setTermios, &quiet)
        defer { var back = termios; _ = ioctl(master, setTermios, &back) }
        for (fd, bytes) in [(master, input), (slave, output)] where !bytes.isEmpty {
            try bytes.withUnsafeBytes { try Sys.writeAll(fd, $0, what: "pseudo-terminal \(fd == master ? "input" : "output")") }
        }
    }

    /// Everything readable now, without waiting.
    static func drain(_ fd: Int32) -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while all.count < 1 << 20 {
            // The master is the process's own open file, maybe blocking: ask first.
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 0) == 1, p.revents & Int16(POLLIN) != 0 else { break }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            all += buffer[0..<n]
        }
        return all
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard let r = f.pty else { return .closed("fd \(f.fd): pty record missing") }
        guard let fd = c.objects.ptys.master(index: r.index) else {
            return .closed("fd \(f.fd): pseudo-terminal \(r.index) could not be made again")
        }
        return .local(fd)
    }

    /// /dev/pts/N for a controlling terminal's device number (kernel
    /// encoding, as /proc/PID/stat gives it), if it is a pseudo-terminal.
    static func ptsIndex(ttyNumber t: UInt64) -> UInt64? {
        let major = (t >> 8) & 0xfff, minor = (t & 0xff) | ((t >> 12) & 0xfff00)
        guard (136...143).contains(major) else { return nil }
        return (major - 136) << 8 | minor
    }
}

/// The image's pseudo-terminals, made by the restorer with their indexes:
/// /dev/ptmx is opened until it hands out the index wanted (the ones
/// below it, held meanwhile, are let go). One whose index another terminal
/// holds now comes back at the next free index, with a warning: its slaves
/// and controlling terminal are opened there (`path(index:)`), never by the
/// old name, which leads to that other terminal. Held until the restart is done.
final class PtyFactory {
    private var masters: [UInt64: Int32] = [:]
    /// Image index -> the index it came back at, where that differs.
    private var moved: [UInt64: UInt64] = [:]
    private(set) var warnings: [String] = []

    init(processes: [ProcessState]) {
        var records: [UInt64: PtyRecord] = [:]
        for p in processes { for f in p.files { if let r = f.pty { records[r.index] = r } } }
        var taken: [(UInt64, PtyRecord)] = []
        // Every free index first, so a moved terminal cannot take one the image still wants.
        for (index, r) in records.sorted(by: { $0.key < $1.key }) {
            switch Self.open(at: index) {
            case .made(let fd): make(fd, r, at: index)
            case .taken: taken.append((index, r))
            case .failed(let why): warnings.append("pseudo-terminal \(index): /dev/ptmx: \(why)")
            }
        }
        for (index, r) in taken {
            let fd = Glibc.open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
            var got: UInt32 = 0
            guard fd >= 0, ioctl(fd, PtyMasters.getIndex, &got) == 0 else {
                warnings.append("pseudo-terminal \(index) is taken by another terminal now, and no other could be made: \(errorText(errno))")
                if fd >= 0 { Glibc.close(fd) }
                continue
            }
            moved[index] = UInt64(got)
            make(fd, r, at: UInt64(got))
            warnings.append("pseudo-terminal /dev/pts/\(index) is taken by another terminal now: it comes back as /dev/pts/\(got) (a program that kept the old name and opens it again reaches that other terminal)")
        }
    }

    private enum Opened { case made(Int32), taken, failed(String) }

    /// A new master at exactly `index`, if that index is free.
    private static func open(at index: UInt64) -> Opened {
        var spare: [Int32] = []
        defer { spare.forEach { _ = Glibc.close($0) } }
        while true {
            let fd = Glibc.open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
            guard fd >= 0 else { return .failed(errorText(errno)) }
            var got: UInt32 = 0
            guard ioctl(fd, PtyMasters.getIndex, &got) == 0, UInt64(got) <= index else {
                Glibc.close(fd)
                return .taken
            }
            if UInt64(got) == index { return .made(fd) }
            spare.append(fd)
        }
    }

    /// Settings, waiting bytes and node of `r` on the new master `fd`, whose slave is /dev/pts/`index`.
    private func make(_ fd: Int32, _ r: PtyRecord, at index: UInt64) {
        var lock: Int32 = r.locked ? 1 : 0, packet: Int32 = r.packetMode ? 1 : 0
        _ = ioctl(fd, PtyMasters.setLock, &lock)
        _ = ioctl(fd, PtyMasters.setPacket, &packet)
        var termios = r.termios, window = r.windowSize
        if termios.count == 36 { _ = ioctl(fd, PtyMasters.setTermios, &termios) }
        if window.count == 8 { _ = ioctl(fd, PtyMasters.setWindow, &window) }
        if !r.input.isEmpty || !r.output.isEmpty, !r.locked {
            let slave = Glibc.open("/dev/pts/\(index)", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
            if slave >= 0 {
                do { try PtyMasters.refill(master: fd, slave: slave, termios: r.termios, input: r.input, output: r.output) } catch {
                    warnings.append("pseudo-terminal \(r.index): its waiting bytes were not put back: \(error)")
                }
                Glibc.close(slave)
            }
        }
        if r.node.count == 3 {
            _ = chown("/dev/pts/\(index)", uid_t(r.node[0]), gid_t(r.node[1]))
            _ = chmod("/dev/pts/\(index)", mode_t(r.node[2]))
        }
        masters[r.index] = fd
    }

    func master(index: UInt64) -> Int32? { masters[index] }
    func has(index: UInt64) -> Bool { masters[index] != nil }
    /// The slave's path of the image's terminal `index` now.
    func path(index: UInt64) -> String { "/dev/pts/\(moved[index] ?? index)" }

    func close() {
        for fd in masters.values { Glibc.close(fd) }
        masters = [:]
    }
}
