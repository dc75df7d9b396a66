import Glibc

/// A network namespace's firewall rules, read and written with the tools
/// that own their formats, run inside it (NamespaceCommand), as CRIU runs
/// iptables-save and nft:
///   iptables-legacy, ip6tables-legacy  x_tables (iptables-legacy-save / -restore)
///   iptables-nft, ip6tables-nft        nf_tables tables iptables-nft made (its -save / -restore:
///                                      their xt matches have no nft syntax)
///   nft                                every other nf_tables table (`nft list ruleset`, `nft -f`)
/// Tables of our own (the TCP connection lock, ConnectionLock) are left out.
public enum NetFirewall {
    public struct Rules: Equatable, Sendable {
        /// One of `kinds`.
        public var kind: String
        public var text: String
        public init(kind: String, text: String) { self.kind = kind; self.text = text }
    }

    public static let kinds = ["iptables-legacy", "ip6tables-legacy", "iptables-nft", "ip6tables-nft", "nft"]
    /// The tables iptables-nft makes, by family.
    static let xtablesNames: Set<String> = ["filter", "nat", "mangle", "raw", "security"]

    /// The namespace of `pid`'s rules; what could not be read is named in `problems`.
    public static func read(of pid: pid_t) -> (rules: [Rules], problems: [String]) {
        var rules: [Rules] = [], problems: [String] = []
        var xtables: Set<String> = []  // "ip filter", "ip6 nat": owned by iptables-nft
        for kind in kinds.dropLast() {
            guard let tool = find("\(kind)-save") else { continue }
            switch NamespaceCommand.run(tool, [], in: pid) {
            case .success(let o) where o.status == 0:
                let text = String(decoding: o.output, as: UTF8.self)
                let tables = text.split(separator: "\n").filter { $0.hasPrefix("*") }.map { String($0.dropFirst()) }
                guard !tables.isEmpty else { continue }
                rules.append(Rules(kind: kind, text: text))
                if kind.hasSuffix("-nft") { for t in tables { xtables.insert("\(kind.hasPrefix("ip6") ? "ip6" : "ip") \(t)") } }
            case .success(let o) where kind.hasSuffix("-legacy") && String(decoding: o.errors, as: UTF8.self).contains("Permission denied"):
                // A user's namespace: x_tables' table list belongs to root; its legacy rules cannot be read (README).
                continue
            case .success(let o):
                problems.append("\(kind)-save: \(firstLine(o.errors, or: "exit status \(o.status)"))")
            case .failure(let e):
                problems.append("\(kind)-save: \(e)")
            }
        }
        guard let nft = find("nft") else { return (rules, problems) }
        switch NamespaceCommand.run(nft, ["list", "ruleset"], in: pid) {
        case .success(let o) where o.status == 0:
            let kept = tables(String(decoding: o.output, as: UTF8.self)).filter { header, _ in
                let words = header.split(separator: " ").map(String.init)  // table FAMILY NAME {
                guard words.count >= 3 else { return false }
                let name = words[2].filter { $0 != "\"" }
                return !name.hasPrefix("swiftcr-lock-") && !(xtablesNames.contains(name) && xtables.contains("\(words[1]) \(name)"))
            }
            if !kept.isEmpty { rules.append(Rules(kind: "nft", text: kept.map(\.text).joined(separator: "\n"))) }
        case .success(let o):
            problems.append("nft list ruleset: \(firstLine(o.errors, or: "exit status \(o.status)"))")
        case .failure(let e):
            problems.append("nft list ruleset: \(e)")
        }
        return (rules, problems)
    }

    /// Writes the rules into the namespace of `pid`, each kind with its tool; what failed, a line each.
    public static func write(_ rules: [Rules], of pid: pid_t) -> [String] {
        var problems: [String] = []
        // The x_tables tools lock /run/xtables.lock, which a user may not open: theirs is elsewhere.
        let runtime = getenv("XDG_RUNTIME_DIR").map { String(cString: $0) } ?? "/tmp"
        let lockFile = geteuid() == 0 ? [] : ["XTABLES_LOCKFILE=\(runtime)/swiftcr-xtables-\(getuid()).lock"]
        for r in rules {
            let (name, arguments) = r.kind == "nft" ? ("nft", ["-f", "-"]) : ("\(r.kind)-restore", [])
            guard let tool = find(name) else { problems.append("\(r.kind) rules: \(name) is not installed"); continue }
            switch NamespaceCommand.run(tool, arguments, input: Array(r.text.utf8), environment: lockFile, in: pid) {
            case .success(let o) where o.status == 0: break
            case .success(let o): problems.append("\(r.kind) rules: \(name): \(firstLine(o.errors, or: "exit status \(o.status)"))")
            case .failure(let e): problems.append("\(r.kind) rules: \(name): \(e)")
            }
        }
        return problems
    }

    /// The top-level `table ... { ... }` blocks of nft's listing: (header line, whole block).
    static func tables(_ listing: String) -> [(header: String, text: String)] {
        var blocks: [(header: String, text: String)] = []
        var current: [Substring] = []
        for line in listing.split(separator: "\n", omittingEmptySubsequences: false) {
            if current.isEmpty {
                if line.hasPrefix("table ") { current = [line] }
                continue
            }
            current.append(line)
            if line == "}" {
                blocks.append((String(current[0]), current.joined(separator: "\n") + "\n"))
                current = []
            }
        }
        return blocks
    }

    static func find(_ name: String) -> String? {
        ["/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"].map { $0 + name }.first { access($0, X_OK) == 0 }
    }

    static func firstLine(_ bytes: [UInt8], or fallback: String) -> String {
        let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first { !$0.hasPrefix("#") && !$0.isEmpty }
        return line.map { String($0.prefix(200)) } ?? fallback
    }
}
