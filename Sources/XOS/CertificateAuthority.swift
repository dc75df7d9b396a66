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

/// A small CA for XOS certificates, kept in one directory: `ca.pem` (its
/// self-signed certificate), `ca.key` (P-256, mode 0600), `serial` (the next
/// serial number) and `revoked` (one "serial-hex unix-time" per line).
public struct CertificateAuthority {
    public let directory: String
    public let certificate: Certificate
    let key: P256.Signing.PrivateKey

    public static func create(at directory: String, subject: String = "CN=XOS CA,O=swiftcr VO", days: Int = 3650) throws -> CertificateAuthority {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory + "/ca.key") { throw XOSError("\(directory) already holds a CA (ca.key)") }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedNames.parse(subject)
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(1), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(days) * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        try writeText(key.pemRepresentation, to: directory + "/ca.key", mode: 0o600)
        try writeText(try cert.serializeAsPEM().pemString, to: directory + "/ca.pem", mode: 0o644)
        try writeText("2\n", to: directory + "/serial", mode: 0o600)
        try writeText("", to: directory + "/revoked", mode: 0o600)
        return CertificateAuthority(directory: directory, certificate: cert, key: key)
    }

    public static func load(from directory: String) throws -> CertificateAuthority {
        let key = try P256.Signing.PrivateKey(pemRepresentation: try readText(directory + "/ca.key"))
        let cert = try Certificate(pemEncoded: try readText(directory + "/ca.pem"))
        return CertificateAuthority(directory: directory, certificate: cert, key: key)
    }

    /// A user certificate: GlobalUserID (the GUID) and the VO attributes, clientAuth, SAN urn:xos:guid:<uuid>.
    public func issueUser(publicKey: Certificate.PublicKey, commonName: String, attributes: VOAttributes,
                          days: Int = 365, notBefore: Date = Date().addingTimeInterval(-300)) throws -> Certificate {
        guard let guid = attributes.globalUserID, UUID(uuidString: guid) != nil else { throw XOSError("a user certificate needs --guid UUID") }
        guard attributes.primaryVO != nil else { throw XOSError("a user certificate needs --vo") }
        var extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.clientAuth])
            SubjectAlternativeNames([.uniformResourceIdentifier("urn:xos:guid:\(guid.lowercased())")])
            AuthorityKeyIdentifier(keyIdentifier: try caKeyIdentifier())
        }
        for e in try attributes.extensions() { try extensions.append(e) }
        return try sign(publicKey: publicKey, subject: try DistinguishedNames.parse("CN=\(commonName),O=\(attributes.primaryVO ?? "")"),
                        extensions: extensions, days: days, notBefore: notBefore)
    }

    /// A host (service) certificate: no GlobalUserID, serverAuth, SAN dNSName.
    public func issueHost(publicKey: Certificate.PublicKey, hostname: String, attributes: VOAttributes = VOAttributes(), days: Int = 365) throws -> Certificate {
        var attrs = attributes
        attrs.globalUserID = nil
        var extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            SubjectAlternativeNames([.dnsName(hostname)])
            AuthorityKeyIdentifier(keyIdentifier: try caKeyIdentifier())
        }
        for e in try attrs.extensions() { try extensions.append(e) }
        return try sign(publicKey: publicKey, subject: try DistinguishedNames.parse("CN=\(hostname)"), extensions: extensions, days: days,
                        notBefore: Date().addingTimeInterval(-300))
    }

    /// Signs a CSR's key and subject name into a user certificate with these attributes.
    public func sign(csr: CertificateSigningRequest, attributes: VOAttributes, days: Int = 365) throws -> Certificate {
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else { throw XOSError("the CSR's signature does not verify") }
        let cn = csr.subject.flatMap { $0 }.first { $0.type == .RDNAttributeType.commonName }.map { String(describing: $0.value) } ?? "xos-user"
        return try issueUser(publicKey: csr.publicKey, commonName: cn, attributes: attributes, days: days)
    }

    func caKeyIdentifier() throws -> ArraySlice<UInt8> {
        guard let ski = try certificate.extensions.subjectKeyIdentifier else { throw XOSError("the CA certificate has no subject key identifier") }
        return ski.keyIdentifier
    }

    func sign(publicKey: Certificate.PublicKey, subject: DistinguishedName, extensions: Certificate.Extensions, days: Int, notBefore: Date) throws -> Certificate {
        let serial = try nextSerial()
        let notAfter = min(notBefore.addingTimeInterval(Double(days) * 86400), certificate.notValidAfter)
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(serial), publicKey: publicKey,
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: certificate.subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: .init(key))
    }

    /// The next serial, taken under an exclusive lock so two issuers never share one.
    func nextSerial() throws -> UInt64 {
        let path = directory + "/serial"
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw XOSError("\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        flock(fd, LOCK_EX)
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = Glibc.read(fd, &buffer, buffer.count)
        guard n > 0, let serial = UInt64(String(decoding: buffer[0..<n], as: UTF8.self).trimmed) else { throw XOSError("\(path) holds no serial number") }
        let next = Array("\(serial + 1)\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, next, next.count, 0)
        return serial
    }

    // MARK: revocation

    public func revoke(_ cert: Certificate, at date: Date = Date()) throws {
        guard cert.issuer == certificate.subject else { throw XOSError("\(cert.subject) was not issued by this CA") }
        let line = "\(Self.hex(cert.serialNumber)) \(Int(date.timeIntervalSince1970))\n"
        let fd = open(directory + "/revoked", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw XOSError("\(directory)/revoked: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        _ = Glibc.write(fd, line, line.utf8.count)
    }

    public func revoked() throws -> [(serial: [UInt8], date: Date)] {
        try Self.readText(directory + "/revoked").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 2, let t = Double(f[1]) else { return nil }
            return (Self.bytes(hex: String(f[0])), Date(timeIntervalSince1970: t))
        }
    }

    /// A signed CRL (RFC 5280 §5) of every revoked serial, valid for `days`.
    public func crl(days: Int = 30) throws -> RevocationList {
        try RevocationList.make(issuer: certificate.subject, entries: revoked(), thisUpdate: Date(),
                                nextUpdate: Date().addingTimeInterval(Double(days) * 86400), key: key)
    }

    static func hex(_ s: Certificate.SerialNumber) -> String { s.bytes.map { hex2($0) }.joined() }
    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16) ?? 0) }
        return out
    }

    static func readText(_ path: String) throws -> String {
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch { throw XOSError("cannot read \(path): \(error)") }
    }

    static func writeText(_ text: String, to path: String, mode: Int) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw XOSError("cannot write \(path)")
        }
    }
}

/// "CN=a,O=b,OU=c,C=d,L=e,ST=f,DC=g" to a DistinguishedName.
public enum DistinguishedNames {
    public static func parse(_ text: String) throws -> DistinguishedName {
        var rdns: [RelativeDistinguishedName] = []
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { String($0).trimmed }
            guard kv.count == 2, !kv[1].isEmpty else { throw XOSError("bad name component '\(part)' in '\(text)' (expected KEY=VALUE)") }
            let oid: ASN1ObjectIdentifier
            switch kv[0].uppercased() {
            case "CN": oid = .RDNAttributeType.commonName
            case "O": oid = .RDNAttributeType.organizationName
            case "OU": oid = .RDNAttributeType.organizationalUnitName
            case "C": oid = .RDNAttributeType.countryName
            case "L": oid = .RDNAttributeType.localityName
            case "ST": oid = .RDNAttributeType.stateOrProvinceName
            case "DC": oid = .RDNAttributeType.domainComponent
            default: throw XOSError("unknown name attribute \(kv[0]) in '\(text)' (CN, O, OU, C, L, ST, DC)")
            }
            rdns.append(RelativeDistinguishedName(try .init(type: oid, utf8String: kv[1])))
        }
        return DistinguishedName(rdns)
    }
}
