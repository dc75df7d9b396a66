import Glibc
@testable import CheckpointImage

/// A small synthetic image with every record kind, used by the format tests
/// and kept in Fixtures/images as the v1.0 sample.
enum SampleImage {
    static let pid: Int32 = 4242

    static var inventory: Inventory {
        Inventory(producer: "swiftcr sample", kernelRelease: "6.18.0-sample", machine: "x86_64", hostname: "sample",
                  createdAt: 1_790_000_000, xsaveSize: 2432, xfeatures: 0xe7, scope: 0, target: pid)
    }

    static var process: ProcessState {
        let thread = ThreadState(
            tid: pid, registers: (0..<27).map { UInt64($0) * 0x1111 }, xsave: (0..<2432).map { UInt8($0 % 251) },
            signalMask: 0x4001, pendingSignals: [[UInt8](repeating: 7, count: 128)],
            altStack: .init(base: 0x7f00_0000_0000, flags: 0, size: 65536),
            rseq: .init(address: 0x7f00_0000_1000, size: 32, signature: 0x5305_3053), tidAddress: 0x7f00_0000_2d0)
        var mm = ProcessState.MemoryLayoutFields()
        mm.startCode = 0x400000; mm.endCode = 0x401000; mm.startBrk = 0x600000; mm.brk = 0x621000
        return ProcessState(
            pid: pid, ppid: 1, pgid: pid, sid: pid, command: "sample", executable: "/usr/bin/sample",
            uids: [1000, 1000, 1000, 1000], gids: [100, 100, 100, 100], groups: [100, 27], umask: 0o022,
            cwd: "/home/with space", root: "/", personality: 0,
            rlimits: [.init(resource: 7, soft: 1024, hard: 4096)], mm: mm, auxv: [6, 4096, 0x21, 0x7fff_0000],
            signalActions: [.init(signal: 10, handler: 0x401234, flags: 0x0400_0004, restorer: 0x401000, mask: 0x800)],
            sharedPending: [], threads: [thread],
            mappings: [
                Mapping(start: 0x400000, end: 0x402000, protection: 5, shared: false, growsDown: false, kind: .privateFile,
                        path: "/usr/bin/sample", offset: 0, device: 0xfe00, inode: 99, fileSize: 8192, fileMtimeNanos: 5),
                Mapping(start: 0x600000, end: 0x621000, protection: 3, shared: false, growsDown: false, kind: .anonymous,
                        path: "[heap]", offset: 0, device: 0, inode: 0),
                Mapping(start: 0x7ffd_0000_0000, end: 0x7ffd_0002_1000, protection: 3, shared: false, growsDown: true,
                        kind: .anonymous, path: "[stack]", offset: 0, device: 0, inode: 0),
            ],
            files: [FileDescriptorState(fd: 0, kind: .inherited, path: "/dev/pts/0", flags: 2, closeOnExec: false, offset: 0, inheritFrom: 0),
                    FileDescriptorState(fd: 3, kind: .regular, path: "/tmp/data", flags: 0o100002, closeOnExec: true, offset: 37)],
            dumpable: 1, parentDeathSignal: 0)
    }

    /// Page content: each page filled with a byte derived from its address.
    static func page(_ address: UInt64) -> [UInt8] {
        [UInt8](repeating: UInt8(truncatingIfNeeded: address >> 12) | 1, count: 4096)
    }

    static let runs: [(address: UInt64, pages: UInt64)] = [(0x600000, 3), (0x610000, 1), (0x7ffd_0002_0000, 1)]

    static let zombie = ZombieState(pid: pid + 1, ppid: pid, pgid: pid, sid: pid, waitStatus: 7 << 8)

    /// Tree-wide objects (format 1.2's TREE section).
    static var tree: TreeState {
        var sem = SysVObject(kind: .semaphores, key: 7, id: 9, mode: 0o600, uid: 1000, gid: 100, size: 2)
        sem.values = [1, 0]
        return TreeState(sysvObjects: [sem], omittedPIDs: [pid + 7])
    }

    /// The process with a descriptor of every kind that has a payload record (format 1.2).
    static var processWithPayloads: ProcessState {
        var p = process
        let sin: [UInt8] = [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
        var tcp = TCPConnectionRecord(family: 2, address: sin, peerAddress: sin)
        (tcp.sendSequence, tcp.receiveSequence, tcp.mss, tcp.options, tcp.unsent, tcp.noDelay) = (1000, 2000, 1460, 7, 2, true)
        tcp.window.sndWnd = 65535
        tcp.queues = (Array("unread".utf8), Array("unacked".utf8))
        let payloads: [(FileDescriptorState.Kind, DescriptorPayload)] = [
            (.eventfd, .eventfd(EventFDRecord(count: 3, semaphore: false))),
            (.signalfd, .signalfd(SignalFDRecord(mask: 1 << 9))),
            (.timerfd, .timerfd(TimerFDRecord(clock: 1, remaining: (5, 500), interval: (1, 0), ticks: 2))),
            (.epoll, .epoll(EpollRecord(watches: [.init(fd: 4, events: 1, data: 4)]))),
            (.unixSocket, .unixSocket(UnixSocketRecord(type: 1, state: 10, peer: 0, backlog: 16, address: Array("/run/sample.sock".utf8)))),
            (.inetSocket, .inetSocket(InetSocketRecord(family: 2, type: 2, protocol: 17, listening: false, backlog: 0, address: sin))),
            (.fifo, .fifo(FIFORecord(mode: 0o600))),
            (.memfd, .memfd(MemFDRecord(seals: 1, size: 0))),
            (.inotify, .inotify(InotifyRecord(watches: [.init(wd: 1, mask: 0x100, path: "/tmp")]))),
            (.tcpConnection, .tcpConnection(tcp)),
        ]
        for (k, (kind, payload)) in payloads.enumerated() {
            var f = FileDescriptorState(fd: Int32(4 + k), kind: kind, path: "sample:[\(k)]", flags: 2, closeOnExec: false, offset: 0, inode: UInt64(500 + k))
            f.payload = payload
            p.files.append(f)
        }
        return p
    }

    /// Format 1.3's additions on top: socket options, owners, leases, a
    /// writerless pipe, TCP state, sparse unlinked files, the new kinds
    /// (node, pidfd, namespace, pty master), capabilities, a shared fd
    /// table, a controlling terminal and a file in flight in a socket queue.
    static var processV13: ProcessState {
        var p = processWithPayloads
        p.capabilities = [0, 0x3ff, 0x3fe, 0x1ff_ffff_ffff, 0x2000]
        p.filesSharedWith = pid - 1
        p.terminal = [0x8800, 4242]
        p.threads[0].credentials = [4321, 4321, 4321, 4321, 99, 99, 99, 99, 0, 0, 0, 0x1ff_ffff_ffff, 0]
        for k in p.files.indices {
            switch p.files[k].payload {
            case .tcpConnection(var r):
                r.state = 9
                p.files[k].payload = .tcpConnection(r)
                p.files[k].socketOptions = [.init(level: 1, name: 9, value: [1, 0, 0, 0]), .init(level: 6, name: 4, value: [60, 0, 0, 0])]
            case .unixSocket(var r):
                (r.nameGone, r.fileMode, r.fileOwner, r.pendingOn) = (true, 0o640, [1000, 100], 777)
                if r.queued.isEmpty { r.queued = [Array("hi".utf8)] }
                r.passed = [.init(message: r.queued.count - 1, fds: [42, 42])]
                p.files[k].payload = .unixSocket(r)
            case .inetSocket(var r):
                r.shutdown = 2
                p.files[k].payload = .inetSocket(r)
            case .fifo:
                p.files[k].payload = .fifo(FIFORecord(mode: 0o600, gone: true))
            case .memfd(var r):
                r.mode = 0o751
                p.files[k].payload = .memfd(r)
            case .eventfd:
                p.files[k].owner = .init(type: 1, pid: pid, signal: 35)
            default: break
            }
        }
        var unlinked = UnlinkedFileRecord(mode: 0o600, uid: 1000, gid: 100)
        (unlinked.size, unlinked.extents) = (1 << 30, [4096, 3, 1 << 29, 2])
        var pty = PtyRecord(index: 3, locked: false, packetMode: true, termios: [UInt8](repeating: 1, count: 36), windowSize: [24, 0, 80, 0, 0, 0, 0, 0])
        (pty.input, pty.output, pty.node) = (Array("typed\n".utf8), Array("shown\r\n".utf8), [1000, 5, 0o620])
        let added: [(FileDescriptorState.Kind, DescriptorPayload, String)] = [
            (.unlinked, .unlinked(unlinked), "/tmp/sparse (deleted)"),
            (.node, .node(NodeRecord(mode: 0o020600, rdev: 0x103, uid: 0, gid: 0, gone: true)), "/tmp/null-node"),
            (.node, .node(NodeRecord(mode: 0o120777, rdev: 0, target: "../elsewhere", uid: 1000, gid: 100, gone: false)), "/tmp/link"),
            (.pidfd, .pidfd(PidFDRecord(pid: -1)), "anon_inode:[pidfd]"),
            (.namespace, .namespace(NamespaceRecord(type: "net", holder: Int64(pid))), "net:[4026531840]"),
            (.ptyMaster, .pty(pty), "/dev/ptmx"),
        ]
        for (k, (kind, payload, path)) in added.enumerated() {
            var f = FileDescriptorState(fd: Int32(30 + k), kind: kind, path: path, flags: 2, closeOnExec: false, offset: 0, inode: UInt64(900 + k))
            f.payload = payload
            if kind == .unlinked { f.fileContents = [1, 2, 3, 4, 5] }
            if kind == .ptyMaster { f.lease = nil }
            p.files.append(f)
        }
        var pipe = FileDescriptorState(fd: 40, kind: .pipe, path: "pipe:[5]", flags: 0, closeOnExec: false, offset: 0, inode: 5)
        (pipe.pipeData, pipe.pipeCapacity, pipe.pipeNoWriters) = (Array("left".utf8), 65536, true)
        var leased = FileDescriptorState(fd: 41, kind: .regular, path: "/tmp/leased", flags: 0, closeOnExec: false, offset: 0, inode: 41)
        leased.lease = 0
        var inFlight = FileDescriptorState(fd: 42, kind: .eventfd, path: "anon_inode:[eventfd]", flags: 2, closeOnExec: false, offset: 0, inode: 42)
        (inFlight.payload, inFlight.inFlight) = (.eventfd(EventFDRecord(count: 7, semaphore: false)), true)
        p.files += [pipe, leased, inFlight]
        return p
    }

    /// Format 1.4's addition: an anonymous mapping with pages inherited from the parent.
    static var processV14: ProcessState {
        var p = processV13
        if let i = p.mappings.firstIndex(where: { $0.kind == .anonymous && $0.length >= 3 * 4096 }) ?? p.mappings.indices.first {
            p.mappings[i].inheritedRuns = p.mappings[i].length >= 3 * 4096 ? [0, 1, 2, 1] : [0, 1]
        }
        return p
    }

    /// Format 1.5's additions: an incremental image, its heap's pages 3-15
    /// and 17-32 left to its parent (the saved pages are 0-2 and 16).
    static var inventoryV15: Inventory {
        var inv = inventory
        inv.imageID = 0x5eed_1234_abcd_0015
        inv.parent = Inventory.ParentLink(path: "/scratch/sample.0", imageID: 0x5eed_1234_abcd_0014, indexChecksum: 0xdead_beef)
        return inv
    }

    static var processV15: ProcessState {
        var p = processV14
        if let i = p.mappings.firstIndex(where: { $0.path == "[heap]" }) { p.mappings[i].parentRuns = [3, 13, 17, 16] }
        return p
    }

    /// Writes the sample to `fd` (file or pipe); two PAGES sections; with a
    /// ZOMBIE record when asked (format 1.1), with every payload kind when asked (1.2).
    static func write(to fd: Int32, withZombie: Bool = false, withPayloads: Bool = false, v13: Bool = false, v14: Bool = false, v15: Bool = false,
                      compressed: Bool = false) throws {
        let w = try ImageWriter(fd: fd)
        try w.write(v15 ? inventoryV15 : inventory)
        if withPayloads || v13 || v14 || v15 { try w.write(tree) }
        try w.write(v15 ? processV15 : v14 ? processV14 : v13 ? processV13 : withPayloads ? processWithPayloads : process)
        if withZombie { try w.write(zombie) }
        for batch in [Array(runs[0..<2]), Array(runs[2...])] {
            let data = batch.flatMap { r in (0..<r.pages).flatMap { page(r.address + $0 * 4096) } }
            try data.withUnsafeBytes { bytes in
                guard compressed, let compressor = PageCompressor(level: 19) else { return try w.writePages(pid: pid, runs: batch, data: bytes) }
                var frame = [UInt8](repeating: 0, count: PageCompressor.bound(bytes.count))
                let size = try frame.withUnsafeMutableBytes { try compressor.compress(bytes, into: $0) }
                try frame.withUnsafeBytes { f in
                    try w.commit(try w.preparePages(pid: pid, runs: batch, data: bytes, frame: UnsafeRawBufferPointer(rebasing: f[0..<size])))
                }
            }
        }
        try w.finish()
    }

    static func bytes() throws -> [UInt8] {
        let fd = Self.anonymousFile()
        defer { close(fd) }
        try write(to: fd)
        let size = Int(lseek(fd, 0, SEEK_END))
        return try ImageIndex.readAt(fd, 0, size)
    }

    /// An fd holding `bytes`, positioned at 0.
    static func fd(_ bytes: [UInt8]) -> Int32 {
        let fd = Self.anonymousFile()
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        lseek(fd, 0, SEEK_SET)
        return fd
    }
}

extension SampleImage {
    /// An unlinked temporary file (memfd_create is hidden from Swift without _GNU_SOURCE).
    static func anonymousFile() -> Int32 {
        var template = Array("/tmp/swiftcr-image.XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return fd
    }
}
