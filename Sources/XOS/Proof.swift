import Crypto
// FoundationEssentials, not Foundation: pam_xos.so carries its own copy, and
// two full Foundations (NSString bridging) clash in a Swift host process.
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import X509

/// Proof of possession for pam_xos's prompt mode: the module sends a fresh
/// nonce; the client signs it (ECDSA P-256 / SHA-256) with the certificate's
/// key; the module checks the signature with the certificate's public key.
/// The prompts are part of the protocol: clients (pam_app_conv, xos-ssh)
/// recognise them by these prefixes.
public enum Proof {
    public static let certificatePrompt = "XOS certificate (PEM): "
    public static let noncePromptPrefix = "XOS proof, sign nonce "

    public static func nonce() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in hex2(UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    public static func noncePrompt(_ nonce: String) -> String { "\(noncePromptPrefix)\(nonce): " }

    /// The nonce inside a prompt, if it is a nonce prompt.
    public static func nonce(inPrompt prompt: String) -> String? {
        guard prompt.hasPrefix(noncePromptPrefix) else { return nil }
        return String(prompt.dropFirst(noncePromptPrefix.count).prefix { $0.isHexDigit })
    }

    public static func sign(nonce: String, key: P256.Signing.PrivateKey) throws -> String {
        try key.signature(for: Data(("xos-proof:" + nonce).utf8)).derRepresentation.base64EncodedString()
    }

    public static func verify(nonce: String, signature: String, certificate: Certificate) -> Bool {
        guard let der = Data(base64Encoded: signature.trimmed), let key = P256.Signing.PublicKey(certificate.publicKey),
              let sig = try? P256.Signing.ECDSASignature(derRepresentation: der) else { return false }
        return key.isValidSignature(sig, for: Data(("xos-proof:" + nonce).utf8))
    }
}
