// FoundationEssentials, not Foundation: pam_xos.so carries its own copy, and
// two full Foundations (NSString bridging) clash in a Swift host process.
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import X509

/// Checks a user or host certificate against the trusted XOS CA: issuer,
/// signature (synchronously: the chain is CA -> leaf), validity now, the
/// CRL when one is given (itself signed by the CA and current), and returns
/// the VO attributes. Every refusal says why, in one line.
public struct XOSVerifier {
    public let ca: Certificate
    public let crl: RevocationList?

    public init(ca: Certificate, crl: RevocationList? = nil) {
        self.ca = ca
        self.crl = crl
    }

    /// Loads the CA from a PEM file and, optionally, a CRL.
    public init(caFile: String, crlFile: String? = nil) throws {
        ca = try Certificate(pemEncoded: try CertificateAuthority.readText(caFile))
        if let f = crlFile {
            guard let data = FileManager.default.contents(atPath: f) else { throw XOSError("cannot read CRL \(f)") }
            crl = try RevocationList(bytes: [UInt8](data))
        } else {
            crl = nil
        }
    }

    @discardableResult
    public func verify(_ cert: Certificate, at now: Date = Date()) throws -> VOAttributes {
        guard cert.issuer == ca.subject else { throw XOSError("not issued by the trusted XOS CA (issuer \(cert.issuer), CA \(ca.subject))") }
        guard ca.publicKey.isValidSignature(cert.signature, for: cert) else {
            throw XOSError("the CA's signature does not verify: the certificate was altered or signed by another key")
        }
        guard now >= ca.notValidBefore, now <= ca.notValidAfter else { throw XOSError("the CA certificate itself is not valid now") }
        guard now >= cert.notValidBefore else { throw XOSError("not valid before \(cert.notValidBefore)") }
        guard now <= cert.notValidAfter else { throw XOSError("expired on \(cert.notValidAfter)") }
        if let crl {
            guard crl.verify(by: ca) else { throw XOSError("the CRL is not signed by the trusted CA") }
            guard now <= crl.nextUpdate else { throw XOSError("the CRL is out of date (next update was \(crl.nextUpdate))") }
            if let when = crl.revocationDate(of: cert.serialNumber) { throw XOSError("revoked on \(when)") }
        }
        return try VOAttributes(certificate: cert)
    }
}
