import ArgumentParser
import CPAM
import Crypto
// FoundationEssentials, not Foundation: pam_xos.so carries its own copy, and
// two full Foundations (NSString bridging) clash in a Swift host process.
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import XOS

/// pam_app_conv: runs a PAM service's auth, account and session phases for a
/// user with a conversation that answers from an XOS certificate and key
/// (the certificate prompt, then a signature over the module's nonce), and
/// prints the PAM environment after the session. Exit 0 only if every
/// phase succeeded.
struct PamAppConv: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pam_app_conv", abstract: "Check a PAM service with an XOS certificate.")
    @Option(help: "The PAM service.") var service: String
    @Option(help: "A PAM configuration directory instead of /etc/pam.d.") var confdir: String?
    @Option(help: "The user to log in as.") var user: String
    @Option(help: "The certificate (PEM).") var cert: String
    @Option(help: "Its private key (PEM).") var key: String

    final class Answers {
        let pem: String
        let key: P256.Signing.PrivateKey
        init(pem: String, key: P256.Signing.PrivateKey) { self.pem = pem; self.key = key }
        func answer(_ prompt: String) -> String? {
            if prompt == Proof.certificatePrompt { return pem }
            if let nonce = Proof.nonce(inPrompt: prompt) { return try? Proof.sign(nonce: nonce, key: key) }
            return nil
        }
    }

    static let conversation: @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<pam_message>?>?,
                                             UnsafeMutablePointer<UnsafeMutablePointer<pam_response>?>?, UnsafeMutableRawPointer?) -> Int32 = { count, messages, responses, data in
        guard count > 0, let messages, let responses, let data,
              let replies = calloc(Int(count), MemoryLayout<pam_response>.stride)?.assumingMemoryBound(to: pam_response.self) else { return PAM_CONV_ERR }
        let answers = Unmanaged<Answers>.fromOpaque(data).takeUnretainedValue()
        for k in 0..<Int(count) {
            guard let m = messages[k]?.pointee else { continue }
            let text = m.msg.map { String(cString: $0) } ?? ""
            switch m.msg_style {
            case PAM_PROMPT_ECHO_ON, PAM_PROMPT_ECHO_OFF:
                guard let a = answers.answer(text) else { free(replies); return PAM_CONV_ERR }
                replies[k].resp = strdup(a)
            default:
                print("pam_app_conv: \(text)")
            }
        }
        responses.pointee = replies
        return PAM_SUCCESS
    }

    func run() throws {
        let pem = try String(contentsOfFile: cert, encoding: .utf8)
        let signingKey = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: key, encoding: .utf8))
        let answers = Answers(pem: pem, key: signingKey)
        var conv = pam_conv(conv: Self.conversation, appdata_ptr: Unmanaged.passUnretained(answers).toOpaque())
        var handle: OpaquePointer?
        let started = confdir.map { pam_start_confdir(service, user, &conv, $0, &handle) } ?? pam_start(service, user, &conv, &handle)
        guard started == PAM_SUCCESS, let h = handle else { throw ValidationError("pam_start(\(service)) failed: \(started)") }
        var status = PAM_SUCCESS
        func step(_ name: String, _ r: Int32) -> Bool {
            print("\(name): \(String(cString: pam_strerror(h, r)))")
            status = r
            return r == PAM_SUCCESS
        }
        defer { pam_end(h, status) }
        guard step("auth", pam_authenticate(h, 0)), step("account", pam_acct_mgmt(h, 0)),
              step("setcred", pam_setcred(h, Int32(PAM_ESTABLISH_CRED))), step("session", pam_open_session(h, 0)) else { throw ExitCode(1) }
        if let list = pam_getenvlist(h) {
            var k = 0
            while let entry = list[k] {
                print(String(cString: entry))
                free(entry)
                k += 1
            }
            free(list)
        }
        guard step("close", pam_close_session(h, 0)) else { throw ExitCode(1) }
    }
}
