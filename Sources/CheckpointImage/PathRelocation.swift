/// cr_restart --relocate OLD=NEW, by BLCR's rules: at most 16 pairs, both
/// paths absolute, `\=` and `\\` escape a literal = or backslash, OLD
/// matches whole leading components, and the first matching pair wins.
public struct PathRelocation: Sendable {
    public static let maximum = 16  // CR_MAX_RSTRT_RELOC
    public private(set) var pairs: [(old: String, new: String)] = []

    public init() {}

    /// Parses the arguments; the error says which one is wrong and why.
    public init(arguments: [String]) throws {
        guard arguments.count <= Self.maximum else {
            throw RelocationError("\(arguments.count) --relocate pairs; at most \(Self.maximum) are allowed")
        }
        for a in arguments {
            var old = "", new = "", seenEquals = false, escaped = false
            for c in a {
                if escaped {
                    guard c == "=" || c == "\\" else { throw RelocationError("--relocate \(a): '\\\(c)' is not an escape (only \\= and \\\\)") }
                    if seenEquals { new.append(c) } else { old.append(c) }
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "=" && !seenEquals {
                    seenEquals = true
                } else if seenEquals {
                    new.append(c)
                } else {
                    old.append(c)
                }
            }
            guard !escaped else { throw RelocationError("--relocate \(a): ends in a lone backslash") }
            guard seenEquals else { throw RelocationError("--relocate \(a): expected OLD=NEW") }
            guard old.hasPrefix("/"), new.hasPrefix("/") else { throw RelocationError("--relocate \(a): both paths must be absolute") }
            func trimmed(_ s: String) -> String { s.count > 1 && s.hasSuffix("/") ? String(s.dropLast()) : s }
            pairs.append((trimmed(old), trimmed(new)))
        }
    }

    public var isEmpty: Bool { pairs.isEmpty }

    /// The path with the first matching OLD prefix (whole components) replaced by NEW.
    public func apply(_ path: String) -> String {
        for (old, new) in pairs {
            if path == old { return new }
            let prefix = old == "/" ? "/" : old + "/"
            if path.hasPrefix(prefix) {
                let rest = path.dropFirst(prefix.count)
                return new == "/" ? "/" + rest : new + "/" + rest
            }
        }
        return path
    }

    /// Every path the restart opens, maps, binds or changes into.
    public func apply(to p: ProcessState) -> ProcessState {
        guard !isEmpty else { return p }
        var p = p
        p.executable = apply(p.executable)
        p.cwd = apply(p.cwd)
        p.root = apply(p.root)
        for k in p.mappings.indices where p.mappings[k].kind == .privateFile || p.mappings[k].kind == .sharedFile {
            if let path = p.mappings[k].path { p.mappings[k].path = apply(path) }
        }
        for k in p.files.indices {
            let f = p.files[k]
            switch f.kind {
            case .regular, .device, .fifo, .unlinked:
                p.files[k].path = apply(f.path)
            case .unixSocket:
                // Its own name and, for a datagram socket, the name it connects to.
                guard var s = f.unixSocket else { break }
                func moved(_ a: [UInt8]) -> [UInt8] {
                    a.first == UInt8(ascii: "/") ? Array(apply(String(decoding: a.prefix { $0 != 0 }, as: UTF8.self)).utf8) : a
                }
                s.address = moved(s.address)
                s.peerAddress = moved(s.peerAddress)
                p.files[k].payload = .unixSocket(s)
            default:
                break
            }
        }
        return p
    }
}

public struct RelocationError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
