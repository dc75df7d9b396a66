/// A small JSON writer with keys in the order given, so `inspect --json`
/// output is stable and diffable (docs/INSPECT-JSON.md).
indirect enum JSONValue {
    case int(Int64), uint(UInt64), string(String), bool(Bool), null
    /// Seconds and other measures (finite; rendered in Swift's shortest form, valid JSON).
    case number(Double)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }

    /// On one line, for messages.
    func rendered(compact: Bool) -> String {
        guard compact else { return rendered() }
        switch self {
        case .array(let items): return "[" + items.map { $0.rendered(compact: true) }.joined(separator: ", ") + "]"
        case .object(let fields): return "{" + fields.map { Self.quoted($0.0) + ": " + $0.1.rendered(compact: true) }.joined(separator: ", ") + "}"
        default: return rendered()
        }
    }

    func rendered(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1), close = String(repeating: "  ", count: indent)
        switch self {
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        case .number(let v): return v.isFinite ? "\(v)" : "null"
        case .bool(let v): return v ? "true" : "false"
        case .null: return "null"
        case .string(let s): return Self.quoted(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { pad + $0.rendered(indent: indent + 1) }.joined(separator: ",\n") + "\n\(close)]"
        case .object(let fields):
            if fields.isEmpty { return "{}" }
            return "{\n" + fields.map { pad + Self.quoted($0.0) + ": " + $0.1.rendered(indent: indent + 1) }.joined(separator: ",\n") + "\n\(close)}"
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

extension JSONValue {
    /// Any image record as JSON, field by field as the type declares them
    /// (Mirror): the JSON follows the record's own definition, so a field
    /// added to a payload record shows up without a line here. Byte arrays
    /// become hex strings; tuples become objects of their labels.
    init(reflecting value: Any) {
        switch value {
        case let v as Bool: self = .bool(v)
        case let v as String: self = .string(v)
        // By exact type: an empty [[UInt8]] would also cast to [UInt8].
        case let v as [UInt8] where type(of: value) == [UInt8].self:
            let digits = Array("0123456789abcdef")
            self = .string(String(v.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }))
        case let v as any FixedWidthInteger:
            if let signed = Int64(exactly: v), signed < 0 { self = .int(signed) } else { self = .uint(UInt64(truncatingIfNeeded: v)) }
        default:
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .optional:
                self = mirror.children.first.map { JSONValue(reflecting: $0.value) } ?? .null
            case .collection, .set:
                self = .array(mirror.children.map { JSONValue(reflecting: $0.value) })
            case .enum:
                // A payload case: its record; a plain case: its name.
                if let child = mirror.children.first { self = JSONValue(reflecting: child.value) } else { self = .string(String(describing: value)) }
            default:
                self = .object(mirror.children.enumerated().map { k, child in (child.label ?? "\(k)", JSONValue(reflecting: child.value)) })
            }
        }
    }
}
