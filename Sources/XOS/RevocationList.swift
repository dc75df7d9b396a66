import Crypto
// FoundationEssentials, not Foundation: pam_xos.so carries its own copy, and
// two full Foundations (NSString bridging) clash in a Swift host process.
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1
import X509

/// A certificate revocation list (RFC 5280 §5), which swift-certificates
/// does not provide: encoded and parsed here with swift-asn1, signed with
/// ECDSA P-256 / SHA-256. `openssl crl -text` reads what this writes.
public struct RevocationList {
    public var issuer: DistinguishedName
    public var thisUpdate: Date
    public var nextUpdate: Date
    public var entries: [(serial: [UInt8], date: Date)]
    /// The DER of TBSCertList and of the signature, as read (or written).
    var tbsBytes: [UInt8]
    var signature: [UInt8]
    public var der: [UInt8]

    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]

    static func make(issuer: DistinguishedName, entries: [(serial: [UInt8], date: Date)], thisUpdate: Date, nextUpdate: Date,
                     key: P256.Signing.PrivateKey) throws -> RevocationList {
        var tbs = DER.Serializer()
        try tbs.appendConstructedNode(identifier: .sequence) { c in
            try c.serialize(1)  // v2
            try c.appendConstructedNode(identifier: .sequence) { a in try a.serialize(ecdsaWithSHA256) }
            try c.serialize(issuer)
            try serializeTime(thisUpdate, into: &c)
            try serializeTime(nextUpdate, into: &c)
            if !entries.isEmpty {
                try c.appendConstructedNode(identifier: .sequence) { list in
                    for e in entries {
                        try list.appendConstructedNode(identifier: .sequence) { entry in
                            try entry.serialize(ArraySlice(e.serial.first.map { $0 & 0x80 != 0 } == true ? [0] + e.serial : e.serial))
                            try serializeTime(e.date, into: &entry)
                        }
                    }
                }
            }
        }
        let tbsBytes = tbs.serializedBytes
        let signature = Array(try key.signature(for: tbsBytes).derRepresentation)
        var all = DER.Serializer()
        try all.appendConstructedNode(identifier: .sequence) { c in
            c.serializeRawBytes(tbsBytes)
            try c.appendConstructedNode(identifier: .sequence) { a in try a.serialize(ecdsaWithSHA256) }
            try c.serialize(ASN1BitString(bytes: signature[...]))
        }
        var list = try RevocationList(bytes: all.serializedBytes)
        list.entries = entries
        return list
    }

    /// UTCTime until 2049, GeneralizedTime after, as RFC 5280 requires.
    static func serializeTime(_ date: Date, into c: inout DER.Serializer) throws {
        let k = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC") ?? .current, from: date)
        let (y, mo, d, h, mi, s) = (k.year ?? 1970, k.month ?? 1, k.day ?? 1, k.hour ?? 0, k.minute ?? 0, k.second ?? 0)
        if y < 2050 {
            try c.serialize(try UTCTime(year: y, month: mo, day: d, hours: h, minutes: mi, seconds: s))
        } else {
            try c.serialize(try GeneralizedTime(year: y, month: mo, day: d, hours: h, minutes: mi, seconds: s, fractionalSeconds: 0))
        }
    }

    static func date(_ node: ASN1Node) throws -> Date {
        var c = DateComponents()
        c.timeZone = TimeZone(identifier: "UTC")
        if node.identifier == .utcTime {
            let t = try UTCTime(derEncoded: node)
            (c.year, c.month, c.day, c.hour, c.minute, c.second) = (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
        } else {
            let t = try GeneralizedTime(derEncoded: node)
            (c.year, c.month, c.day, c.hour, c.minute, c.second) = (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
        }
        guard let d = Calendar(identifier: .gregorian).date(from: c) else { throw XOSError("CRL: impossible date") }
        return d
    }

    public func pem() -> String {
        PEMDocument(type: "X509 CRL", derBytes: der).pemString
    }

    /// Parses a CRL (PEM or DER). The signature is checked by `verify(by:)`.
    public init(bytes: [UInt8]) throws {
        var der = bytes
        if let text = String(bytes: bytes, encoding: .utf8), text.contains("-----BEGIN X509 CRL-----") {
            der = try PEMDocument(pemString: text).derBytes
        }
        self.der = der
        let root = try DER.parse(der)
        var issuer = DistinguishedName()
        var thisUpdate = Date.distantPast, nextUpdate = Date.distantFuture
        var entries: [(serial: [UInt8], date: Date)] = []
        var tbsBytes: [UInt8] = []
        var signature: [UInt8] = []
        try DER.sequence(root, identifier: .sequence) { nodes in
            guard let tbs = nodes.next() else { throw XOSError("CRL: no TBSCertList") }
            tbsBytes = Array(tbs.encodedBytes)
            try DER.sequence(tbs, identifier: .sequence) { t in
                var node = t.next()
                if node?.identifier == .integer { node = t.next() }  // version
                guard node?.identifier == .sequence else { throw XOSError("CRL: no signature algorithm") }
                guard let name = t.next() else { throw XOSError("CRL: no issuer") }
                issuer = try DistinguishedName(derEncoded: name)
                guard let this = t.next() else { throw XOSError("CRL: no thisUpdate") }
                thisUpdate = try Self.date(this)
                var rest = t.next()
                if let r = rest, r.identifier == .utcTime || r.identifier == .generalizedTime {
                    nextUpdate = try Self.date(r)
                    rest = t.next()
                }
                if let list = rest, list.identifier == .sequence {
                    try DER.sequence(list, identifier: .sequence) { items in
                        while let item = items.next() {
                            try DER.sequence(item, identifier: .sequence) { e in
                                guard let serial = e.next(), let when = e.next() else { throw XOSError("CRL: short entry") }
                                let value = try ArraySlice<UInt8>(derEncoded: serial)
                                entries.append((Array(value.drop { $0 == 0 }), try Self.date(when)))
                                while e.next() != nil {}
                            }
                        }
                    }
                }
                while t.next() != nil {}
            }
            guard nodes.next() != nil, let bits = nodes.next() else { throw XOSError("CRL: no signature") }
            signature = Array(try ASN1BitString(derEncoded: bits).bytes)
        }
        self.issuer = issuer
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.entries = entries
        self.tbsBytes = tbsBytes
        self.signature = signature
    }

    /// The CRL is signed by this CA certificate's key.
    public func verify(by ca: Certificate) -> Bool {
        guard issuer == ca.subject, let key = P256.Signing.PublicKey(ca.publicKey),
              let sig = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
        return key.isValidSignature(sig, for: tbsBytes)
    }

    public func revocationDate(of serial: Certificate.SerialNumber) -> Date? {
        let s = Array(serial.bytes.drop { $0 == 0 })
        return entries.first { $0.serial.drop { $0 == 0 }.elementsEqual(s) }?.date
    }
}
