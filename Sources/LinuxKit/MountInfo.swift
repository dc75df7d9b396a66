import Glibc

/// One line of /proc/PID/mountinfo (proc(5)): a mount of the process's
/// mount namespace, with its paths as seen from the process's root.
public struct MountInfo: Equatable, Sendable {
    public var id: Int32
    public var parent: Int32
    public var major: UInt32
    public var minor: UInt32
    /// The directory of the filesystem this mount shows (a bind mount's subtree).
    public var root: String
    public var mountPoint: String
    /// Per-mount options ("rw,nosuid,relatime").
    public var options: String
    /// Optional fields: "shared:N", "master:N", "propagate_from:N", "unbindable".
    public var tags: [String]
    public var fsType: String
    public var source: String
    /// Per-superblock options ("rw,size=1024k,mode=755").
    public var superOptions: String

    public var shared: Bool { tags.contains { $0.hasPrefix("shared:") } }
    /// The peer group it is in ("shared:N"), the one it receives from ("master:N").
    public var peerGroup: Int? { tags.first { $0.hasPrefix("shared:") }.flatMap { Int($0.dropFirst(7)) } }
    public var masterGroup: Int? { tags.first { $0.hasPrefix("master:") }.flatMap { Int($0.dropFirst(7)) } }
    public var slave: Bool { tags.contains { $0.hasPrefix("master:") } }
    public var unbindable: Bool { tags.contains("unbindable") }
    public var readOnly: Bool { options.split(separator: ",").first == "ro" }

    /// The per-mount options as mount(2) flags.
    public var flags: UInt64 {
        let bits: [Substring: Int] = ["ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
                                      "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME,
                                      "strictatime": MS_STRICTATIME, "nosymfollow": MS_NOSYMFOLLOW]
        return options.split(separator: ",").reduce(UInt64(0)) { $0 | UInt64(bits[$1] ?? 0) }
    }

    /// The propagation mountinfo shows, as MS_SHARED, MS_SLAVE and MS_UNBINDABLE bits (none: private).
    public var propagation: UInt64 {
        (shared ? UInt64(MS_SHARED) : 0) | (slave ? UInt64(MS_SLAVE) : 0) | (unbindable ? UInt64(MS_UNBINDABLE) : 0)
    }

    /// Parses the whole file; a line that does not parse names itself.
    public static func parse(_ text: String) throws -> [MountInfo] {
        var mounts: [MountInfo] = []
        for (k, line) in text.split(separator: "\n").enumerated() {
            guard let m = MountInfo(line: line) else {
                throw ProcParseError(file: "mountinfo", line: k + 1, reason: "not a mount: \(line.prefix(120))")
            }
            mounts.append(m)
        }
        return mounts
    }

    public static func read(pid: Int32) throws -> [MountInfo] {
        try parse(try Sys.readText("/proc/\(pid)/mountinfo"))
    }

    init?(line: Substring) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard let dash = fields.firstIndex(of: "-"), dash >= 6, fields.count >= dash + 4,
              let id = Int32(fields[0]), let parent = Int32(fields[1]) else { return nil }
        let device = fields[2].split(separator: ":")
        guard device.count == 2, let major = UInt32(device[0]), let minor = UInt32(device[1]) else { return nil }
        self.id = id
        self.parent = parent
        self.major = major
        self.minor = minor
        root = Self.unescape(fields[3])
        mountPoint = Self.unescape(fields[4])
        options = String(fields[5])
        tags = fields[6..<dash].map(String.init)
        fsType = Self.unescape(fields[dash + 1])
        source = Self.unescape(fields[dash + 2])
        superOptions = Self.unescape(fields[dash + 3])
    }

    /// The kernel writes space, tab, newline and backslash as \ooo.
    static func unescape(_ s: Substring) -> String {
        guard s.contains("\\") else { return String(s) }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var k = 0
        while k < b.count {
            if b[k] == UInt8(ascii: "\\"), k + 4 <= b.count,
               let v = UInt8(String(decoding: b[(k + 1)..<(k + 4)], as: UTF8.self), radix: 8) {
                out.append(v)
                k += 4
            } else {
                out.append(b[k])
                k += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
