import Glibc
import SystemPackage

/// A program run inside a process's user and network namespaces (or here):
/// the firewall tools (iptables-save, nft) that read and write a
/// namespace's rules, as CRIU runs them. The child enters the namespaces
/// with system calls only (InsideNamespace.enter), keeps CAP_NET_ADMIN and
/// CAP_NET_RAW across exec as ambient capabilities (a user's tool has them
/// in the user namespace it entered, not otherwise), and takes its input
/// from a memfd and writes its output and errors to two more, read after it
/// exits: no pipe can fill and stall it. One that runs longer than its
/// time limit is killed: a checkpoint holds its processes frozen meanwhile.
public enum NamespaceCommand {
    public struct Outcome: Sendable {
        /// The exit status (128 + the signal that killed it).
        public var status: Int32
        public var output: [UInt8]
        public var errors: [UInt8]
    }

    /// The program's exit, or its errors beginning "timed out after N s" (status 137) when killed at `timeLimit` seconds.
    public static func run(_ path: String, _ arguments: [String], input: [UInt8] = [], environment: [String] = [], in pid: pid_t?,
                           timeLimit: Double = 30) -> Result<Outcome, Errno> {
        // Three memfds: input (filled, rewound), output, errors.
        var files: [Int32] = []
        defer { for f in files { close(f) } }
        for name in ["in", "out", "err"] {
            let fd = Int32(truncatingIfNeeded: name.withCString { Syscall.raw(NR.memfd_create, Int(bitPattern: $0), 1 /* MFD_CLOEXEC */) })
            guard fd >= 0 else { return .failure(Errno(rawValue: errno)) }
            files.append(fd)
        }
        if !input.isEmpty {
            guard input.withUnsafeBytes({ pwrite(files[0], $0.baseAddress, $0.count, 0) }) == input.count else { return .failure(Errno(rawValue: errno)) }
        }
        // Built before the clone: the child may only make system calls.
        let variables = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"] + environment
        let strings = ([path] + arguments + variables).map { strdup($0) }
        let nsPath = pid.map { strdup("/proc/\($0)/ns/net") } ?? nil, userPath = pid.map { strdup("/proc/\($0)/ns/user") } ?? nil
        defer { for s in strings { free(s) }; free(nsPath); free(userPath) }
        guard !strings.contains(where: { $0 == nil }), pid == nil || (nsPath != nil && userPath != nil) else { return .failure(Errno(rawValue: ENOMEM)) }
        let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: arguments.count + 2)
        let envp = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: variables.count + 1)
        defer { argv.deallocate(); envp.deallocate() }
        for k in 0...arguments.count { argv[k] = strings[k] }
        argv[arguments.count + 1] = nil
        for k in variables.indices { envp[k] = strings[arguments.count + 1 + k] }
        envp[variables.count] = nil
        // capget/capset: a version-3 header and two data words (effective, permitted, inheritable each).
        let caps = UnsafeMutablePointer<UInt32>.allocate(capacity: 8)
        defer { caps.deallocate() }
        let (input, output, errors) = (files[0], files[1], files[2])
        let spawned = RawChild.spawn {
            if let nsPath, let userPath, !InsideNamespace.enter(user: userPath, namespace: nsPath, flag: CloneFlags.newNet) { Syscall.exitGroup(126) }
            caps[0] = 0x2008_0522  // _LINUX_CAPABILITY_VERSION_3
            caps[1] = 0
            if Syscall.raw(NR.capget, Int(bitPattern: caps), Int(bitPattern: caps + 2)) == 0 {
                caps[4] |= caps[3]  // inheritable |= permitted (low word)
                caps[7] |= caps[6]
                _ = Syscall.raw(NR.capset, Int(bitPattern: caps), Int(bitPattern: caps + 2))
                for cap in [12, 13] {  // CAP_NET_ADMIN, CAP_NET_RAW
                    _ = Syscall.raw(NR.prctl, 47, 2, cap)  // PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE
                }
            }
            if Syscall.raw(NR.dup2, Int(input), 0) < 0 || Syscall.raw(NR.dup2, Int(output), 1) < 0 || Syscall.raw(NR.dup2, Int(errors), 2) < 0 {
                Syscall.exitGroup(126)
            }
            _ = Syscall.raw(NR.execve, Int(bitPattern: argv[0]), Int(bitPattern: argv), Int(bitPattern: envp))
            Syscall.exitGroup(127)
        }
        guard case .success(let child) = spawned else {
            if case .failure(let e) = spawned { return .failure(e) }
            return .failure(Errno(rawValue: EAGAIN))
        }
        let timedOut = !exits(child, within: timeLimit)
        if timedOut { kill(child, SIGKILL) }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let note = timedOut ? Array("timed out after \(Int(timeLimit.rounded(.up))) s, killed\n".utf8) : []
        return .success(Outcome(status: code, output: contents(output), errors: note + contents(errors)))
    }

    /// Whether `child` exits within `seconds` (it stays a zombie for the caller's waitpid).
    private static func exits(_ child: pid_t, within seconds: Double) -> Bool {
        let pidfd = Int32(truncatingIfNeeded: Syscall.raw(NR.pidfd_open, Int(child), 0))
        guard pidfd >= 0 else { return true }  // no pidfd: wait as before
        defer { close(pidfd) }
        let deadline = monotonicSeconds() + seconds
        while true {
            let left = deadline - monotonicSeconds()
            guard left > 0 else { return false }
            var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
            if n > 0 { return true }
            if n < 0 && errno != EINTR { return true }
        }
    }

    private static func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    private static func contents(_ fd: Int32) -> [UInt8] {
        var all: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var at: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, at) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            all += chunk[0..<n]
            at += off_t(n)
        }
        return all
    }
}
