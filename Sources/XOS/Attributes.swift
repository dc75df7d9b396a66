import SwiftASN1
import X509

/// The XOS VO attributes: X.509 extensions under the arc 1.34.5.0.14, an
/// unregistered arc the original XtreemOS system used (kept for fidelity).
/// Values are text: written as UTF8String, read from UTF8String, OCTET
/// STRING or BIT STRING; plural attributes are comma-separated. Always
/// non-critical, so verifiers that do not know them still accept the
/// certificate.
public struct VOAttributes: Equatable, Sendable {
    public var primaryVO: String?
    public var secondaryVOs: [String] = []
    /// Present only in user certificates: a host (service) certificate has none.
    public var globalUserID: String?
    public var primaryGroup: String?
    public var secondaryGroups: [String] = []
    public var role: String?
    public var group: String?
    public var subgroup: String?

    public init() {}

    public enum Field: UInt, CaseIterable, Sendable {
        case primaryVO = 1, secondaryVOs, globalUserID, primaryGroup, secondaryGroups, role, group, subgroup
        public var oid: ASN1ObjectIdentifier { [1, 34, 5, 0, 14, self.rawValue] }
        public var name: String {
            ["GlobalPrimaryVOName", "GlobalSecondaryVONames", "GlobalUserID", "GlobalPrimaryGroupName",
             "GlobalSecondaryGroupNames", "Role", "Group", "Subgroup"][Int(rawValue) - 1]
        }
    }

    public var isUser: Bool { globalUserID != nil }
    /// VOAdmin in the groups made a member the VO's superuser in the original.
    public var isVOAdmin: Bool { group == "VOAdmin" || primaryGroup == "VOAdmin" || secondaryGroups.contains("VOAdmin") }

    func value(_ f: Field) -> String? {
        switch f {
        case .primaryVO: return primaryVO
        case .secondaryVOs: return secondaryVOs.isEmpty ? nil : secondaryVOs.joined(separator: ",")
        case .globalUserID: return globalUserID
        case .primaryGroup: return primaryGroup
        case .secondaryGroups: return secondaryGroups.isEmpty ? nil : secondaryGroups.joined(separator: ",")
        case .role: return role
        case .group: return group
        case .subgroup: return subgroup
        }
    }

    mutating func set(_ f: Field, _ v: String) {
        let list = v.split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
        switch f {
        case .primaryVO: primaryVO = v
        case .secondaryVOs: secondaryVOs = list
        case .globalUserID: globalUserID = v
        case .primaryGroup: primaryGroup = v
        case .secondaryGroups: secondaryGroups = list
        case .role: role = v
        case .group: group = v
        case .subgroup: subgroup = v
        }
    }

    /// The extensions to put in a certificate (non-critical UTF8String values).
    public func extensions() throws -> [Certificate.Extension] {
        try Field.allCases.compactMap { f in
            guard let v = value(f) else { return nil }
            var serializer = DER.Serializer()
            try serializer.serialize(ASN1UTF8String(v))
            return Certificate.Extension(oid: f.oid, critical: false, value: serializer.serializedBytes[...])
        }
    }

    /// Reads the attributes from a certificate's extensions (UTF8String, OCTET STRING or BIT STRING values).
    public init(certificate: Certificate) throws {
        for ext in certificate.extensions {
            guard let f = Field.allCases.first(where: { $0.oid == ext.oid }) else { continue }
            set(f, try Self.text(ext.value, field: f))
        }
    }

    static func text(_ bytes: ArraySlice<UInt8>, field: Field) throws -> String {
        let node = try DER.parse(bytes)
        switch node.identifier {
        case .utf8String: return String(try ASN1UTF8String(derEncoded: node))
        case .octetString: return String(decoding: try ASN1OctetString(derEncoded: node).bytes, as: UTF8.self)
        case .bitString: return String(decoding: try ASN1BitString(derEncoded: node).bytes, as: UTF8.self)
        case .printableString: return String(try ASN1PrintableString(derEncoded: node))
        case .ia5String: return String(try ASN1IA5String(derEncoded: node))
        default: throw XOSError("\(field.name): value is \(node.identifier), not text")
        }
    }
}

public struct XOSError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}

/// Two lowercase hex digits (no String(format:), which needs Foundation).
func hex2(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}

/// A number padded with zeros to three digits.
func pad3(_ n: Int) -> String {
    let s = String(n)
    return s.count >= 3 ? s : String(repeating: "0", count: 3 - s.count) + s
}
