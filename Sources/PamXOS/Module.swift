import CPAM
// FoundationEssentials, not Foundation: pam_xos.so carries its own copy, and
// two full Foundations (NSString bridging) clash in a Swift host process.
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import X509
import XOS

/// What every phase does: find the certificate (asked in auth, kept for
/// the others), verify it, apply the policy, and check that it maps to the
/// user logging in.
enum Module {
    static let keptCertificate = "xos-certificate"

    static func arguments(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> [String] {
        guard let argv, argc > 0 else { return [] }
        return (0..<Int(argc)).compactMap { argv[$0].map { String(cString: $0) } }
    }

    /// Runs a phase, turning every error into a PAM code and a log line.
    static func phase(_ name: String, _ h: OpaquePointer?, _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                      _ body: (PamHandle, ModuleOptions) throws -> Int32) -> Int32 {
        guard let h else { return PAM_SYSTEM_ERR }
        let options = ModuleOptions(arguments(argc, argv))
        let pam = PamHandle(handle: h, debug: options.debug)
        for p in options.problems { pam.log(LOG_ERR, "pam_xos: \(p)") }
        do {
            let r = try body(pam, options)
            if options.debug { pam.log(LOG_DEBUG, "pam_xos: \(name): \(String(cString: pam_strerror(h, r)))") }
            return r
        } catch let e as Refusal {
            pam.log(LOG_NOTICE, "pam_xos: \(name) refused for \(pam.user() ?? "?"): \(e.reason)")
            return e.code
        } catch {
            pam.log(LOG_ERR, "pam_xos: \(name): \(error)")
            return PAM_SERVICE_ERR
        }
    }

    struct Refusal: Error { let code: Int32; let reason: String }

    /// The certificate for this transaction: kept from auth, or (ssh mode) what sshd put in SSH_AUTH_INFO_0.
    static func certificate(_ pam: PamHandle, _ o: ModuleOptions) throws -> Certificate {
        if let pem = pam.kept(keptCertificate) { return try Certificate(pemEncoded: pem) }
        if o.mode == "ssh", let info = pam.environment("SSH_AUTH_INFO_0"), let pem = pemBlock(info) {
            return try Certificate(pemEncoded: pem)
        }
        throw Refusal(code: PAM_AUTHINFO_UNAVAIL, reason: "no XOS certificate in this transaction")
    }

    static func pemBlock(_ text: String) -> String? {
        // One line (a terminal conversation answers a line): re-wrap the base64 between the markers.
        if !text.contains("\n"), let body = text.split(separator: "-").first(where: { $0.count > 40 && !$0.contains(" ") }) {
            let base64 = Array(body)
            let lines = stride(from: 0, to: base64.count, by: 64).map { String(base64[$0..<min($0 + 64, base64.count)]) }
            return "-----BEGIN CERTIFICATE-----\n" + lines.joined(separator: "\n") + "\n-----END CERTIFICATE-----\n"
        }
        // Without Foundation's range(of:): find the markers by line.
        var inside = false, lines: [Substring] = []
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            if line.hasPrefix("-----BEGIN CERTIFICATE-----") { inside = true }
            if inside { lines.append(line) }
            if inside && line.hasPrefix("-----END CERTIFICATE-----") { return lines.joined(separator: "\n") + "\n" }
        }
        return nil
    }

    /// Verifies the certificate and maps it; the mapped account must be the PAM user.
    static func admit(_ cert: Certificate, _ pam: PamHandle, _ o: ModuleOptions) throws -> (VOAttributes, AccountMapper.Mapping) {
        let attrs: VOAttributes
        do { attrs = try XOSVerifier(caFile: o.cafile, crlFile: o.crl).verify(cert) } catch let e as XOSError {
            throw Refusal(code: PAM_AUTH_ERR, reason: "certificate \(cert.subject): \(e.description)")
        }
        if let vo = o.vo, attrs.primaryVO != vo && !attrs.secondaryVOs.contains(vo) {
            throw Refusal(code: PAM_PERM_DENIED, reason: "not a member of VO \(vo)")
        }
        let mapping: AccountMapper.Mapping
        do {
            mapping = try AccountMapper(policy: try MappingPolicy.load(o.policy), leases: LeaseDirectory(path: o.leases)).map(attrs)
        } catch let e as XOSError {
            throw Refusal(code: PAM_PERM_DENIED, reason: e.description)
        }
        guard let user = pam.user(), user == mapping.account else {
            throw Refusal(code: PAM_PERM_DENIED, reason: "the certificate maps to \(mapping.account), not to \(pam.user() ?? "?")")
        }
        return (attrs, mapping)
    }

    static func authenticate(_ pam: PamHandle, _ o: ModuleOptions) throws -> Int32 {
        guard o.mode == "prompt" else { return PAM_IGNORE }  // under sshd, ssh authenticated the key
        guard let pem = pam.ask(Proof.certificatePrompt, echo: true).flatMap(pemBlock) else {
            throw Refusal(code: PAM_AUTHINFO_UNAVAIL, reason: "no certificate given")
        }
        let cert: Certificate
        do { cert = try Certificate(pemEncoded: pem) } catch { throw Refusal(code: PAM_AUTH_ERR, reason: "unreadable certificate") }
        let nonce = Proof.nonce()
        guard let signature = pam.ask(Proof.noncePrompt(nonce), echo: false),
              Proof.verify(nonce: nonce, signature: signature, certificate: cert) else {
            throw Refusal(code: PAM_AUTH_ERR, reason: "no valid proof of possession of the certificate's key")
        }
        let (attrs, mapping) = try admit(cert, pam, o)
        guard pam.keep(keptCertificate, pem) else { return PAM_BUF_ERR }
        pam.log(LOG_INFO, "pam_xos: \(attrs.globalUserID ?? "?") (\(mapping.fqan)) authenticated as \(mapping.account)")
        return PAM_SUCCESS
    }

    static func account(_ pam: PamHandle, _ o: ModuleOptions) throws -> Int32 {
        _ = try admit(try certificate(pam, o), pam, o)
        return PAM_SUCCESS
    }

    static func openSession(_ pam: PamHandle, _ o: ModuleOptions) throws -> Int32 {
        let (a, mapping) = try admit(try certificate(pam, o), pam, o)
        let values = [("XOS_GUID", a.globalUserID ?? ""), ("XOS_VO", a.primaryVO ?? ""), ("XOS_ROLE", a.role ?? ""),
                      ("XOS_GROUPS", ([a.group, a.primaryGroup].compactMap { $0 } + a.secondaryGroups).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }.joined(separator: ","))]
        for (k, v) in values { guard pam.putenv(k, v) else { return PAM_BUF_ERR } }
        pam.log(LOG_INFO, "pam_xos: session for \(mapping.account) (\(mapping.fqan))")
        return PAM_SUCCESS
    }
}

public typealias PamArgv = UnsafeMutablePointer<UnsafePointer<CChar>?>

@_cdecl("pam_sm_authenticate")
public func pam_sm_authenticate(_ h: OpaquePointer?, _ flags: Int32, _ argc: Int32, _ argv: PamArgv?) -> Int32 {
    Module.phase("auth", h, argc, argv, Module.authenticate)
}

@_cdecl("pam_sm_setcred")
public func pam_sm_setcred(_ h: OpaquePointer?, _ flags: Int32, _ argc: Int32, _ argv: PamArgv?) -> Int32 { PAM_SUCCESS }

@_cdecl("pam_sm_acct_mgmt")
public func pam_sm_acct_mgmt(_ h: OpaquePointer?, _ flags: Int32, _ argc: Int32, _ argv: PamArgv?) -> Int32 {
    Module.phase("account", h, argc, argv, Module.account)
}

@_cdecl("pam_sm_open_session")
public func pam_sm_open_session(_ h: OpaquePointer?, _ flags: Int32, _ argc: Int32, _ argv: PamArgv?) -> Int32 {
    Module.phase("session", h, argc, argv, Module.openSession)
}

@_cdecl("pam_sm_close_session")
public func pam_sm_close_session(_ h: OpaquePointer?, _ flags: Int32, _ argc: Int32, _ argv: PamArgv?) -> Int32 { PAM_SUCCESS }
