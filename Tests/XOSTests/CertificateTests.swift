import Crypto
import Foundation
import SwiftASN1
import X509
import XCTest
@testable import XOS

/// XOS certificates: the profile round-trips, every attribute encoding is
/// read, and bad certificates are refused with the reason.
final class CertificateTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "xos-\(UUID().uuidString)"
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static let guid = "0f8fad5b-d9cb-469f-a165-70867728950e"

    func member(_ ca: CertificateAuthority, days: Int = 30, notBefore: Date = Date().addingTimeInterval(-60), vo: String = "physics") throws -> Certificate {
        var a = VOAttributes()
        a.primaryVO = vo
        a.secondaryVOs = ["chem", "bio"]
        a.globalUserID = Self.guid
        a.group = "analysis"
        a.role = "admin"
        a.subgroup = "tier1"
        return try ca.issueUser(publicKey: .init(P256.Signing.PrivateKey().publicKey), commonName: "Alice", attributes: a, days: days, notBefore: notBefore)
    }

    func testUserCertificateRoundTripsWithItsAttributes() throws {
        let ca = try CertificateAuthority.create(at: dir)
        let cert = try member(ca)
        let again = try Certificate(pemEncoded: try cert.serializeAsPEM().pemString)
        let a = try XOSVerifier(ca: ca.certificate).verify(again)
        XCTAssertEqual(a.primaryVO, "physics")
        XCTAssertEqual(a.secondaryVOs, ["chem", "bio"])
        XCTAssertEqual(a.globalUserID, Self.guid)
        XCTAssertEqual(a.role, "admin")
        XCTAssertEqual(a.subgroup, "tier1")
        XCTAssertTrue(a.isUser)
        for ext in again.extensions where ext.oid.description.hasPrefix("1.34.5.0.14.") { XCTAssertFalse(ext.critical, "\(ext.oid) must be non-critical") }
        let san = try XCTUnwrap(try again.extensions.subjectAlternativeNames)
        XCTAssertTrue(san.contains(.uniformResourceIdentifier("urn:xos:guid:\(Self.guid)")))
        XCTAssertTrue(try XCTUnwrap(try again.extensions.extendedKeyUsage).contains(.clientAuth))
    }

    /// A CSR's key and name become a user certificate; a CSR whose signature does not verify is refused.
    func testSignsCertificateRequests() throws {
        let ca = try CertificateAuthority.create(at: dir)
        let key = P256.Signing.PrivateKey()
        let csr = try CertificateSigningRequest(version: .v1, subject: try DistinguishedNames.parse("CN=Carol"), privateKey: .init(key),
                                                attributes: .init(), signatureAlgorithm: .ecdsaWithSHA256)
        var a = VOAttributes()
        a.primaryVO = "physics"
        a.globalUserID = Self.guid
        let cert = try ca.sign(csr: csr, attributes: a)
        XCTAssertEqual(cert.publicKey, Certificate.PublicKey(key.publicKey))
        XCTAssertEqual(try XOSVerifier(ca: ca.certificate).verify(cert).primaryVO, "physics")
        XCTAssertTrue("\(cert.subject)".contains("CN=Carol"), "\(cert.subject)")
    }

    func testHostCertificateHasNoUserID() throws {
        let ca = try CertificateAuthority.create(at: dir)
        var a = VOAttributes()
        a.primaryVO = "physics"
        let host = try ca.issueHost(publicKey: .init(P256.Signing.PrivateKey().publicKey), hostname: "node1.example", attributes: a)
        let read = try XOSVerifier(ca: ca.certificate).verify(host)
        XCTAssertFalse(read.isUser)
        XCTAssertEqual(read.primaryVO, "physics")
    }

    /// Readers accept the VO values as UTF8String, OCTET STRING or BIT STRING (the original wrote the latter two).
    func testAttributeEncodings() throws {
        func ext(_ node: (inout DER.Serializer) throws -> Void) throws -> ArraySlice<UInt8> {
            var s = DER.Serializer()
            try node(&s)
            return s.serializedBytes[...]
        }
        XCTAssertEqual(try VOAttributes.text(try ext { try $0.serialize(ASN1UTF8String("vo-a")) }, field: .primaryVO), "vo-a")
        XCTAssertEqual(try VOAttributes.text(try ext { try $0.serialize(ASN1OctetString(contentBytes: Array("vo-b".utf8)[...])) }, field: .primaryVO), "vo-b")
        XCTAssertEqual(try VOAttributes.text(try ext { try $0.serialize(ASN1BitString(bytes: Array("vo-c".utf8)[...])) }, field: .primaryVO), "vo-c")
        XCTAssertThrowsError(try VOAttributes.text(try ext { try $0.serialize(42) }, field: .primaryVO))
    }

    func testBadCertificatesAreRefusedWithTheReason() throws {
        let ca = try CertificateAuthority.create(at: dir)
        let verifier = XOSVerifier(ca: ca.certificate)
        func refused(_ c: Certificate, _ v: XOSVerifier, _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try v.verify(c), file: file, line: line) { e in
                XCTAssertTrue("\(e)".contains(reason), "\(e)", file: file, line: line)
            }
        }
        refused(try member(ca, days: 1, notBefore: Date().addingTimeInterval(-3 * 86400)), verifier, "expired")
        refused(try member(ca, notBefore: Date().addingTimeInterval(86400)), verifier, "not valid before")
        let other = try CertificateAuthority.create(at: dir + "-other", subject: "CN=Other CA")
        defer { try? FileManager.default.removeItem(atPath: dir + "-other") }
        refused(try member(other), verifier, "not issued by the trusted XOS CA")
        // Same name, another key: the signature cannot verify.
        let impostor = try CertificateAuthority.create(at: dir + "-impostor")
        defer { try? FileManager.default.removeItem(atPath: dir + "-impostor") }
        refused(try member(impostor), verifier, "signature does not verify")
        // Tampered: one byte of the signed part changed.
        var serializer = DER.Serializer()
        try serializer.serialize(try member(ca))
        var der = serializer.serializedBytes
        if let k = der.indices.reversed().first(where: { der[$0] == UInt8(ascii: "s") }) { der[k] = UInt8(ascii: "S") }  // in "physics"
        refused(try Certificate(derEncoded: der), verifier, "signature does not verify")
        // Revoked, through a CRL the CA signed.
        let revoked = try member(ca)
        try ca.revoke(revoked)
        let crl = try ca.crl()
        let withCRL = XOSVerifier(ca: ca.certificate, crl: try RevocationList(bytes: Array(crl.pem().utf8)))
        refused(revoked, withCRL, "revoked on")
        XCTAssertNoThrow(try withCRL.verify(try member(ca)))
        // A CRL from another CA is not trusted.
        let foreignCRL = XOSVerifier(ca: ca.certificate, crl: try other.crl())
        refused(try member(ca), foreignCRL, "CRL is not signed")
    }
}
