import CPAM
// FoundationEssentials, not Foundation: pam_xos.so carries its own copy, and
// two full Foundations (NSString bridging) clash in a Swift host process.
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import XOS

/// The PAM calls pam_xos makes, wrapped so nothing can trap: every failure
/// comes back as nil or false, and the caller turns it into a PAM code.
struct PamHandle {
    let handle: OpaquePointer
    let debug: Bool

    /// pam_syslog is variadic; pam_vsyslog takes the va_list Swift can build.
    func log(_ priority: Int32, _ message: String) {
        message.withCString { text in withVaList([text]) { pam_vsyslog(handle, priority, "%s", $0) } }
        // With `debug`, also on stderr: where there is no syslog (containers, sshd -e), the reason is still seen.
        if debug { _ = message.withCString { Glibc.write(2, $0, strlen($0)) }; _ = Glibc.write(2, "\n", 1) }
    }

    func user() -> String? {
        var name: UnsafePointer<CChar>?
        guard pam_get_user(handle, &name, nil) == PAM_SUCCESS, let name else { return nil }
        return String(cString: name)
    }

    func environment(_ key: String) -> String? { pam_getenv(handle, key).map { String(cString: $0) } }

    func putenv(_ key: String, _ value: String) -> Bool { pam_putenv(handle, "\(key)=\(value)") == PAM_SUCCESS }

    /// Asks through the application's conversation function; nil if it has none or it fails.
    func ask(_ prompt: String, echo: Bool) -> String? {
        var item: UnsafeRawPointer?
        guard pam_get_item(handle, PAM_CONV, &item) == PAM_SUCCESS, let item else { return nil }
        let conv = item.assumingMemoryBound(to: pam_conv.self).pointee
        guard let function = conv.conv else { return nil }
        return prompt.withCString { text -> String? in
            var message = pam_message(msg_style: echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF, msg: text)
            return withUnsafePointer(to: &message) { m -> String? in
                var messages: UnsafePointer<pam_message>? = m
                var responses: UnsafeMutablePointer<pam_response>?
                guard function(1, &messages, &responses, conv.appdata_ptr) == PAM_SUCCESS, let responses else { return nil }
                defer { free(responses) }
                guard let text = responses.pointee.resp else { return nil }
                defer { free(text) }
                return String(cString: text)
            }
        }
    }

    /// Keeps a string for the later phases of this PAM transaction.
    func keep(_ name: String, _ value: String) -> Bool {
        guard let copy = strdup(value) else { return false }
        return pam_set_data(handle, name, copy, { _, data, _ in free(data) }) == PAM_SUCCESS
    }

    func kept(_ name: String) -> String? {
        var data: UnsafeRawPointer?
        guard pam_get_data(handle, name, &data) == PAM_SUCCESS, let data else { return nil }
        return String(cString: data.assumingMemoryBound(to: CChar.self))
    }
}
