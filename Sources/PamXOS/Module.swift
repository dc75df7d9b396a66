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

    /// Who is logging in: the certificate kept from auth (verified again), or
    /// under sshd (mode=ssh) the OpenSSH certificate sshd verified, whose
    /// signing key must be the XOS CA's.
    static func identity(_ pam: PamHandle, _ o: ModuleOptions) throws -> VOAttributes {
        if let pem = pam.kept(keptCertificate) { return try verified(try Certificate(pemEncoded: pem), o) }
        guard o.mode == "ssh" else { throw Refusal(code: PAM_AUTHINFO_UNAVAIL, reason: "no XOS certificate in this transaction") }
        if o.debug { pam.log(LOG_DEBUG, "pam_xos: SSH_AUTH_INFO_0=\(pam.environment("SSH_AUTH_INFO_0") ?? "(none)")") }
        guard let info = pam.environment("SSH_AUTH_INFO_0"),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("publickey ") && $0.contains("-cert-v01@openssh.com") }) else {
            throw Refusal(code: PAM_AUTHINFO_UNAVAIL, reason: "sshd gave no certificate (ExposeAuthInfo yes and a certificate login are needed)")
        }
        let cert: OpenSSHCertificate
        do { cert = try OpenSSHCertificate(text: String(line.dropFirst("publickey ".count))) } catch let e as XOSError {
            throw Refusal(code: PAM_AUTH_ERR, reason: e.description)
        }
        let ca = try XOSVerifier(caFile: o.cafile, crlFile: o.crl).ca
        guard cert.signatureKey == (try? OpenSSHCertificate.publicKeyBlob(ca.publicKey)) else {
            throw Refusal(code: PAM_AUTH_ERR, reason: "the ssh certificate \(cert.keyID) was not signed by the XOS CA")
        }
        return cert.attributes
    }

    static func verified(_ cert: Certificate, _ o: ModuleOptions) throws -> VOAttributes {
        do { return try XOSVerifier(caFile: o.cafile, crlFile: o.crl).verify(cert) } catch let e as XOSError {
            throw Refusal(code: PAM_AUTH_ERR, reason: "certificate \(cert.subject): \(e.description)")
        }
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

    /// Applies the VO restriction and the policy; the mapped account must be the PAM user.
    static func admit(_ attrs: VOAttributes, _ pam: PamHandle, _ o: ModuleOptions) throws -> (VOAttributes, AccountMapper.Mapping) {
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
        let (attrs, mapping) = try admit(try verified(cert, o), pam, o)
        guard pam.keep(keptCertificate, pem) else { return PAM_BUF_ERR }
        pam.log(LOG_INFO, "pam_xos: \(attrs.globalUserID ?? "?") (\(mapping.fqan)) authenticated as \(mapping.account)")
        return PAM_SUCCESS
    }

    static func account(_ pam: PamHandle, _ o: ModuleOptions) throws -> Int32 {
        // sshd hands PAM the certificate (SSH_AUTH_INFO_0) only at session time; at account time
        // its AuthorizedPrincipalsCommand (xos-ams principals) has just checked the mapping, so
        // here the user must be an account the policy gives out: leased now, or a static one.
        if o.mode == "ssh" && pam.kept(keptCertificate) == nil && (pam.environment("SSH_AUTH_INFO_0") ?? "").isEmpty {
            guard let user = pam.user() else { throw Refusal(code: PAM_USER_UNKNOWN, reason: "no user") }
            let policy = try MappingPolicy.load(o.policy)
            let leased = (try? LeaseDirectory(path: o.leases).list())?.contains { $0.account == user } ?? false
            let isStatic = policy.rules.contains { if case .account(let a) = $0.target { return a == user } else { return false } }
            guard leased || isStatic else { throw Refusal(code: PAM_PERM_DENIED, reason: "\(user) is not an account the VO policy gives out") }
            return PAM_SUCCESS
        }
        _ = try admit(try identity(pam, o), pam, o)
        return PAM_SUCCESS
    }

    static func openSession(_ pam: PamHandle, _ o: ModuleOptions) throws -> Int32 {
        let (a, mapping) = try admit(try identity(pam, o), pam, o)
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
