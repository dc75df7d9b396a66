import Glibc

/// The network namespace's settings under /proc/sys/net that programs and
/// container runtimes change (forwarding, the first unprivileged port, the
/// ping group range, keepalive, socket queue limits, per-device forwarding,
/// reverse-path filtering, IPv6 on or off...). /proc/sys/net shows the
/// namespace of whoever opens a file there, so they are read and written
/// by a short-lived child inside the namespace (InsideNamespace.enter).
public enum NetSysctls {
    /// Paths under /proc/sys/net of the namespace as a whole.
    public static let global = [
        "ipv4/ip_forward", "ipv4/ip_unprivileged_port_start", "ipv4/ping_group_range", "ipv4/ip_local_port_range",
        "ipv4/ip_nonlocal_bind", "ipv4/icmp_echo_ignore_all", "ipv4/icmp_echo_ignore_broadcasts", "ipv4/tcp_syncookies",
        "ipv4/tcp_keepalive_time", "ipv4/tcp_keepalive_intvl", "ipv4/tcp_keepalive_probes", "ipv4/tcp_fin_timeout",
        "ipv4/tcp_tw_reuse", "ipv4/tcp_timestamps", "ipv4/tcp_sack", "ipv4/tcp_rmem", "ipv4/tcp_wmem",
        "core/somaxconn", "unix/max_dgram_qlen", "ipv6/ip_nonlocal_bind",
    ]
    /// Per device (and `all`, `default`), `%` the device: forwarding first
    /// (writing it resets others: accept_redirects), then every other
    /// writable entry this kernel has under ipv4/conf and ipv6/conf.
    public static let perDevice: [String] = {
        let first = [
            "ipv4/conf/%/forwarding", "ipv4/conf/%/rp_filter", "ipv4/conf/%/accept_local", "ipv4/conf/%/route_localnet",
            "ipv6/conf/%/disable_ipv6", "ipv6/conf/%/forwarding", "ipv6/conf/%/accept_ra",
        ]
        var rest: [String] = []
        for family in ["ipv4", "ipv6"] {
            let directory = "/proc/sys/net/\(family)/conf/default"
            for name in (try? Sys.entries(directory)) ?? [] {
                var st = stat()
                guard stat("\(directory)/\(name)", &st) == 0, st.st_mode & 0o200 != 0 else { continue }
                let path = "\(family)/conf/%/\(name)"
                if !first.contains(path) { rest.append(path) }
            }
        }
        return first + rest
    }()

    /// The paths for a namespace with these devices, in the order they are written back:
    /// the namespace's own, then `all`, `default`, then each device (a write to `all` reaches every device).
    public static func paths(devices: [String]) -> [String] {
        global + (["all", "default"] + devices).flatMap { d in perDevice.map { $0.replacingOccurrences(of: "%", with: d) } }
    }

    /// Each path's value (trimmed), nil where it cannot be read. `pid` nil:
    /// a new network namespace's (in a new user namespace when not root): the defaults.
    public static func read(_ paths: [String], of pid: pid_t?) -> [String?] {
        NamespaceSettings.net.read(paths, of: pid)
    }

    /// Writes each (path, value) inside `pid`'s network namespace; the errno of each that failed.
    public static func write(_ settings: [(path: String, value: String)], of pid: pid_t) -> [(path: String, error: Int32)] {
        NamespaceSettings.net.write(settings, of: pid)
    }
}

/// Settings under /proc/sys that belong to a namespace (network: net/;
/// IPC: kernel/msgmax, fs/mqueue/...). /proc/sys shows the namespace of
/// whoever opens a file there, so they are read and written by a
/// short-lived child inside it (InsideNamespace.enter), or inside a new one
/// for a new namespace's defaults.
public struct NamespaceSettings: Sendable {
    /// Below /proc/sys/.
    public let prefix: String
    public let kind: String
    public let flag: UInt64

    public static let net = NamespaceSettings(prefix: "net/", kind: "net", flag: CloneFlags.newNet)
    public static let ipc = NamespaceSettings(prefix: "", kind: "ipc", flag: CloneFlags.newIPC)

    /// Each path's value (trimmed), nil where it cannot be read. `pid` nil:
    /// a new namespace's (in a new user namespace when not root): the defaults.
    public func read(_ paths: [String], of pid: pid_t?) -> [String?] {
        var results = [String?](repeating: nil, count: paths.count)
        run(paths.map { ($0, nil) }, of: pid) { k, bytes in
            // The kernel ends a value with a newline (and separates fields with tabs, kept).
            results[k] = bytes.map { b in String(decoding: b.drop { $0 == 0x0a || $0 == 0x20 }.reversed().drop { $0 == 0x0a || $0 == 0x20 }.reversed(), as: UTF8.self) }
        }
        return results
    }

    /// Writes each (path, value) inside `pid`'s namespace; the errno of each that failed.
    public func write(_ settings: [(path: String, value: String)], of pid: pid_t) -> [(path: String, error: Int32)] {
        var failed: [(path: String, error: Int32)] = []
        run(settings.map { ($0.path, $0.value + "\n") }, of: pid) { k, bytes in
            if let bytes, bytes.count == 4, let code = Int32(String(decoding: bytes, as: UTF8.self).dropFirst(2)), code != 0 {
                failed.append((settings[k].path, code))
            }
        }
        return failed
    }

    /// One child does every read (`value` nil) or write and sends back, per
    /// path, a two-byte length and the bytes read, or "w=NN" (a write's
    /// errno); 0xffff: nothing. System calls only in the child.
    private func run(_ jobs: [(path: String, value: String?)], of pid: pid_t?, _ each: (Int, [UInt8]?) -> Void) {
        var ends: [Int32] = [-1, -1]
        guard !jobs.isEmpty, pipe(&ends) == 0 else { return }
        defer { close(ends[0]) }
        let paths = jobs.map { strdup("/proc/sys/\(prefix)\($0.path)") }
        let values = jobs.map { $0.value.map { strdup($0) } ?? nil }
        let nsPath = pid.map { strdup("/proc/\($0)/ns/\(kind)") } ?? nil, userPath = pid.map { strdup("/proc/\($0)/ns/user") } ?? nil
        defer {
            for p in paths { free(p) }
            for v in values { free(v) }
            free(nsPath)
            free(userPath)
        }
        guard !paths.contains(where: { $0 == nil }), pid == nil || (nsPath != nil && userPath != nil) else { close(ends[1]); return }
        let room = 512
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: room + 2, alignment: 8)
        defer { buffer.deallocate() }
        let writeEnd = ends[1], flag = flag, fresh = flag | (geteuid() == 0 ? 0 : UInt64(CloneFlags.newUser))
        let spawned = RawChild.spawn {
            if let nsPath, let userPath {
                if !InsideNamespace.enter(user: userPath, namespace: nsPath, flag: flag) { Syscall.exitGroup(1) }
            } else if Syscall.raw(NR.unshare, Int(fresh)) != 0 {
                Syscall.exitGroup(1)
            }
            let bytes = buffer.assumingMemoryBound(to: UInt8.self)
            for k in 0..<paths.count {
                var length = 0xffff
                let write = values[k] != nil
                let file = Syscall.raw(NR.openat, Int(AT_FDCWD), Int(bitPattern: UnsafeRawPointer(paths[k])), Int((write ? O_WRONLY : O_RDONLY) | O_CLOEXEC))
                if let value = values[k] {
                    let code = file < 0 ? Int(Glibc.errno) : (Syscall.raw(NR.write, file, Int(bitPattern: UnsafeRawPointer(value)), Int(strlen(value))) < 0 ? Int(Glibc.errno) : 0)
                    // "w=NN": two decimal digits of the errno.
                    (bytes + 2)[0] = 0x77; (bytes + 2)[1] = 0x3d
                    (bytes + 2)[2] = UInt8(0x30 + (code / 10) % 10); (bytes + 2)[3] = UInt8(0x30 + code % 10)
                    length = 4
                } else if file >= 0 {
                    let n = Syscall.raw(NR.read, file, Int(bitPattern: bytes + 2), room)
                    if n >= 0 { length = n }
                }
                if file >= 0 { _ = Syscall.raw(NR.close, file) }
                bytes[0] = UInt8(length & 0xff)
                bytes[1] = UInt8(length >> 8)
                let total = 2 + (length == 0xffff ? 0 : length)
                if Syscall.raw(NR.write, Int(writeEnd), Int(bitPattern: bytes), total) != total { Syscall.exitGroup(2) }
            }
            Syscall.exitGroup(0)
        }
        close(ends[1])
        guard case .success(let child) = spawned else { return }
        // Read everything before reaping: the child may fill the pipe.
        var all: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(ends[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            all += chunk[0..<n]
        }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        var at = 0
        for k in 0..<jobs.count {
            guard at + 2 <= all.count else { each(k, nil); continue }
            let length = Int(all[at]) | Int(all[at + 1]) << 8
            at += 2
            if length == 0xffff { each(k, nil); continue }
            guard at + length <= all.count else { each(k, nil); continue }
            each(k, Array(all[at..<(at + length)]))
            at += length
        }
    }
}
