// FoundationEssentials, not Foundation: pam_xos.so carries its own copy, and
// two full Foundations (NSString bridging) clash in a Swift host process.
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The account mapping policy (`/etc/xos/ams.conf`), first match wins:
///
///     pool NAME prefix=P first=UID count=N
///     map "PATTERN" account=NAME
///     map "PATTERN" pool=NAME [group=GROUP]
///     deny "PATTERN"
///
/// PATTERN is FQAN-style: `/vo[/group...][/Role=role]`, where `*` matches
/// any one component (`/*` any VO) and a trailing `/*` any rest. Comments
/// start with `#`. Errors name the line.
public struct MappingPolicy: Equatable, Sendable {
    public struct Pool: Equatable, Sendable { public var name: String; public var prefix: String; public var firstUID: Int; public var count: Int }
    public enum Target: Equatable, Sendable { case account(String), pool(String, group: String?), deny }
    public struct Rule: Equatable, Sendable { public var pattern: String; public var target: Target; public var line: Int }

    public var pools: [String: Pool] = [:]
    public var rules: [Rule] = []

    public static let defaultPath = "/etc/xos/ams.conf"

    public init(text: String, file: String = "ams.conf") throws {
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = n + 1
            var s = String(raw)
            if let hash = s.firstIndex(of: "#") { s = String(s[..<hash]) }
            let words = try Self.words(s, file: file, line: line)
            guard let verb = words.first else { continue }
            func fail(_ why: String) -> XOSError { XOSError("\(file):\(line): \(why)") }
            func options(_ list: ArraySlice<String>) throws -> [String: String] {
                var o: [String: String] = [:]
                for w in list {
                    let kv = w.split(separator: "=", maxSplits: 1).map(String.init)
                    guard kv.count == 2, !kv[1].isEmpty else { throw fail("expected KEY=VALUE, found '\(w)'") }
                    o[kv[0]] = kv[1]
                }
                return o
            }
            switch verb {
            case "pool":
                guard words.count >= 2 else { throw fail("pool needs a name") }
                let o = try options(words.dropFirst(2))
                guard let prefix = o["prefix"], let first = o["first"].flatMap(Int.init), let count = o["count"].flatMap(Int.init),
                      first > 0, count > 0, count <= 100_000 else { throw fail("pool \(words[1]) needs prefix=P first=UID count=N") }
                pools[words[1]] = Pool(name: words[1], prefix: prefix, firstUID: first, count: count)
            case "map", "deny":
                guard words.count >= 2 else { throw fail("\(verb) needs a quoted pattern") }
                let pattern = words[1]
                guard pattern.hasPrefix("/") else { throw fail("pattern '\(pattern)' must start with /vo") }
                if verb == "deny" {
                    guard words.count == 2 else { throw fail("deny takes only a pattern") }
                    rules.append(Rule(pattern: pattern, target: .deny, line: line))
                    continue
                }
                let o = try options(words.dropFirst(2))
                if let account = o["account"] {
                    rules.append(Rule(pattern: pattern, target: .account(account), line: line))
                } else if let pool = o["pool"] {
                    rules.append(Rule(pattern: pattern, target: .pool(pool, group: o["group"]), line: line))
                } else {
                    throw fail("map needs account=NAME or pool=NAME")
                }
            default:
                throw fail("unknown directive '\(verb)' (pool, map, deny)")
            }
        }
        for r in rules {
            if case .pool(let p, _) = r.target, pools[p] == nil { throw XOSError("\(file):\(r.line): pool '\(p)' is not defined") }
        }
    }

    public static func load(_ path: String = defaultPath) throws -> MappingPolicy {
        guard let data = FileManager.default.contents(atPath: path) else { throw XOSError("cannot read policy \(path)") }
        return try MappingPolicy(text: String(decoding: data, as: UTF8.self), file: path)
    }

    /// Splits a line into words; "quoted strings" keep their spaces.
    static func words(_ s: String, file: String, line: Int) throws -> [String] {
        var out: [String] = [], current = "", quoted = false, any = false
        for c in s {
            if c == "\"" { quoted.toggle(); any = true; continue }
            if c.isWhitespace && !quoted {
                if any || !current.isEmpty { out.append(current) }
                current = ""; any = false
                continue
            }
            current.append(c)
        }
        guard !quoted else { throw XOSError("\(file):\(line): unterminated quote") }
        if any || !current.isEmpty { out.append(current) }
        return out
    }

    /// The FQANs a certificate speaks for: `/vo`, `/vo/group[/subgroup]`, each with `/Role=r` when it has a role.
    public static func fqans(_ a: VOAttributes) -> [String] {
        var out: [String] = []
        for vo in ([a.primaryVO].compactMap { $0 } + a.secondaryVOs) {
            var base = ["/\(vo)"]
            if vo == a.primaryVO, let g = a.group ?? a.primaryGroup {
                base.append("/\(vo)/\(g)")
                if let sg = a.subgroup { base.append("/\(vo)/\(g)/\(sg)") }
            }
            for b in base.reversed() {
                if let r = a.role, vo == a.primaryVO { out.append("\(b)/Role=\(r)") }
                out.append(b)
            }
        }
        return out
    }

    /// Whether an FQAN matches a pattern (`*` = one component; a trailing `/*` = anything below).
    public static func matches(_ pattern: String, _ fqan: String) -> Bool {
        let p = pattern.split(separator: "/").map(String.init), f = fqan.split(separator: "/").map(String.init)
        if p.last == "*" && p.count - 1 <= f.count && p.count > 1 {
            return zip(p.dropLast(), f).allSatisfy { $0 == "*" || $0 == $1 }
        }
        return p.count == f.count && zip(p, f).allSatisfy { $0 == "*" || $0 == $1 }
    }

    /// The first rule matching any of the certificate's FQANs (most specific FQAN first).
    public func decide(_ a: VOAttributes) -> (rule: Rule, fqan: String)? {
        let candidates = Self.fqans(a)
        for r in rules {
            if let f = candidates.first(where: { Self.matches(r.pattern, $0) }) { return (r, f) }
        }
        return nil
    }
}
