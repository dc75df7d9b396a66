/// /proc/PID/limits: every resource limit of a process. prlimit64 on another
/// user's process needs CAP_SYS_RESOURCE (even to read), which root lacks
/// where the bounding set drops it; the file is readable by anyone.
public enum ProcLimits {
    public struct Limit: Equatable, Sendable {
        /// RLIMIT_* number: the line's position after the header.
        public var resource: Int
        public var soft: UInt64, hard: UInt64
    }

    /// Parses the file's text. Names hold spaces, so each line's values are
    /// read after the name column (25 characters and a space in the kernel's
    /// format); "unlimited" is RLIM_INFINITY.
    public static func parse(_ text: String) throws -> [Limit] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let header = lines.first, header.hasPrefix("Limit") else {
            throw ProcParseError(file: "limits", line: 1, reason: "no header line")
        }
        var out: [Limit] = []
        for (k, line) in lines.dropFirst().enumerated() {
            let fields = line.utf8.count > 26 ? line.dropFirst(26).split(separator: " ") : []
            guard fields.count >= 2, let soft = value(fields[0]), let hard = value(fields[1]) else {
                throw ProcParseError(file: "limits", line: k + 2, reason: "no soft and hard value in '\(line)'")
            }
            out.append(Limit(resource: k, soft: soft, hard: hard))
        }
        return out
    }

    private static func value(_ field: Substring) -> UInt64? {
        field == "unlimited" ? UInt64.max : UInt64(field)
    }
}
