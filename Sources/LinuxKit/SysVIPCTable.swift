/// /proc/sysvipc/{shm,sem,msg}: a header line naming the columns, then one
/// line per object, all numbers (perms in octal).
public enum SysVIPCTable {
    public static func parse(_ text: String, file: String) throws -> [[String: UInt64]] {
        var lines = text.split(separator: "\n")
        guard !lines.isEmpty else { return [] }
        let names = lines.removeFirst().split(separator: " ").map(String.init)
        return try lines.enumerated().map { n, line in
            let values = line.split(separator: " ")
            guard values.count >= names.count else { throw ProcParseError(file: file, line: n + 2, reason: "\(values.count) columns, header has \(names.count)") }
            var row: [String: UInt64] = [:]
            for (name, v) in zip(names, values) {
                guard let x = name == "perms" ? UInt64(v, radix: 8) : UInt64(v) ?? Int64(v).map({ UInt64(bitPattern: $0) }) else {
                    throw ProcParseError(file: file, line: n + 2, reason: "\(name) is not a number: \(v)")
                }
                row[name] = x
            }
            return row
        }
    }

    public static func read(_ kind: String) throws -> [[String: UInt64]] {
        try parse(try Sys.readText("/proc/sysvipc/\(kind)"), file: "/proc/sysvipc/\(kind)")
    }
}
