import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import X509

/// OpenSSH user certificates for XOS-ssh (PROTOCOL.certkeys): the key ID is
/// `guid:<uuid>`, the principal the same, and the VO attributes travel as
/// extensions (`vo@xos`, `vos@xos`, `group@xos`, `role@xos`, `subgroup@xos`).
/// Signed by `ssh-keygen -s` with the XOS CA key; parsed here for sshd's
/// AuthorizedPrincipalsCommand and for pam_xos under sshd.
public struct OpenSSHCertificate: Equatable {
    public var keyType: String
    public var keyID: String
    public var principals: [String]
    public var validAfter: UInt64
    public var validBefore: UInt64
    public var extensions: [String: String]
    /// The CA key that signed it, as an OpenSSH public key blob.
    public var signatureKey: [UInt8]

    public static let extensionNames: [(VOAttributes.Field, String)] = [
        (.primaryVO, "vo@xos"), (.secondaryVOs, "vos@xos"), (.group, "group@xos"), (.role, "role@xos"), (.subgroup, "subgroup@xos"),
    ]

    /// The attributes the certificate carries (GUID from the key ID).
    public var attributes: VOAttributes {
        var a = VOAttributes()
        if keyID.hasPrefix("guid:") { a.globalUserID = String(keyID.dropFirst(5)) }
        for (field, name) in Self.extensionNames { if let v = extensions[name], !v.isEmpty { a.set(field, v) } }
        return a
    }

    /// Parses "TYPE BASE64 [comment]" or the base64 blob alone.
    public init(text: String) throws {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        let encoded = words.first { $0.count > 100 } ?? words.last ?? ""
        guard let data = Data(base64Encoded: String(encoded)) else { throw XOSError("not a base64 OpenSSH certificate") }
        try self.init(blob: [UInt8](data))
    }

    public init(blob: [UInt8]) throws {
        var r = Reader(bytes: blob[...])
        keyType = try r.text()
        guard keyType.hasSuffix("-cert-v01@openssh.com") else { throw XOSError("\(keyType) is not an OpenSSH certificate") }
        _ = try r.string()  // nonce
        switch keyType {
        case "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com":
            _ = try r.string(); _ = try r.string()   // curve, point
        case "ssh-ed25519-cert-v01@openssh.com":
            _ = try r.string()
        case "ssh-rsa-cert-v01@openssh.com":
            _ = try r.string(); _ = try r.string()   // e, n
        default:
            throw XOSError("unsupported certificate key type \(keyType)")
        }
        _ = try r.uint64()  // serial
        guard try r.uint32() == 1 else { throw XOSError("not a user certificate") }
        keyID = try r.text()
        var names = Reader(bytes: try r.string())
        principals = []
        while !names.bytes.isEmpty { principals.append(try names.text()) }
        validAfter = try r.uint64()
        validBefore = try r.uint64()
        _ = try r.string()  // critical options
        var ext = Reader(bytes: try r.string())
        extensions = [:]
        while !ext.bytes.isEmpty {
            let name = try ext.text()
            var value = Reader(bytes: try ext.string())
            extensions[name] = value.bytes.isEmpty ? "" : (try? value.text()) ?? ""
        }
        _ = try r.string()  // reserved
        signatureKey = Array(try r.string())
    }

    /// The OpenSSH public key blob of an X.509 certificate's P-256 key (for checking the signing CA).
    public static func publicKeyBlob(_ key: Certificate.PublicKey) throws -> [UInt8] {
        guard let p = P256.Signing.PublicKey(key) else { throw XOSError("only P-256 keys are supported for XOS-ssh") }
        return Writer.string(Array("ecdsa-sha2-nistp256".utf8)) + Writer.string(Array("nistp256".utf8)) + Writer.string(Array(p.x963Representation))
    }

    /// "ecdsa-sha2-nistp256 BASE64" for a P-256 key.
    public static func publicKeyLine(_ key: Certificate.PublicKey, comment: String) throws -> String {
        "ecdsa-sha2-nistp256 \(Data(try publicKeyBlob(key)).base64EncodedString()) \(comment)"
    }

    struct Reader {
        var bytes: ArraySlice<UInt8>
        mutating func uint32() throws -> UInt32 {
            guard bytes.count >= 4 else { throw XOSError("OpenSSH certificate cut short") }
            let v = bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            bytes = bytes.dropFirst(4)
            return v
        }
        mutating func uint64() throws -> UInt64 { UInt64(try uint32()) << 32 | UInt64(try uint32()) }
        mutating func string() throws -> ArraySlice<UInt8> {
            let n = Int(try uint32())
            guard n <= bytes.count else { throw XOSError("OpenSSH certificate field of \(n) bytes, \(bytes.count) left") }
            let s = bytes.prefix(n)
            bytes = bytes.dropFirst(n)
            return s
        }
        mutating func text() throws -> String { String(decoding: try string(), as: UTF8.self) }
    }

    enum Writer {
        static func string(_ b: [UInt8]) -> [UInt8] {
            let n = UInt32(b.count)
            return [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + b
        }
    }
}
