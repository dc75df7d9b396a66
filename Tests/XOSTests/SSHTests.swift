import Foundation
import XCTest

/// XOS-ssh on the real OpenSSH: a throwaway sshd on 127.0.0.1 in a mount
/// namespace (scripts/vo-ssh-login.sh). A VO member's OpenSSH certificate,
/// issued from the XOS one, lands in the leased account with XOS_VO set; a
/// denied VO and a certificate from another CA are refused.
final class SSHTests: XCTestCase {
    static let root = Repository.root
    static let build = Repository.build

    @discardableResult
    func run(_ argv: [String]) throws -> (code: Int32, output: String) { try runProgram(argv) }

    func testCertificateLoginLandsInTheMappedAccount() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd"), FileManager.default.isExecutableFile(atPath: Self.build + "/xos-ams") else {
            throw XCTSkip("needs root, sshd (openssh-server) and a built VO module")
        }
        // Config files must sit in a directory only root can write (sshd's checks).
        let dir = "/var/tmp/xos-ssh-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = Self.build + "/xos-ca"
        XCTAssertEqual(try run([ca, "init", "--ca-dir", dir + "/ca"]).code, 0)
        XCTAssertEqual(try run([ca, "init", "--ca-dir", dir + "/other", "--subject", "CN=Other CA"]).code, 0)
        for (name, caDir, vo, guid) in [("alice", "ca", "physics", "0f8fad5b-d9cb-469f-a165-70867728950e"),
                                        ("mallory", "ca", "outlaws", "1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
                                        ("eve", "other", "physics", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")] {
            XCTAssertEqual(try run([ca, "issue-user", "--ca-dir", "\(dir)/\(caDir)", "--out", "\(dir)/\(name)", "--cn", name, "--vo", vo, "--guid", guid]).code, 0)
            let sign = try run([ca, "ssh-sign", "--ca-dir", "\(dir)/\(caDir)", "--cert", "\(dir)/\(name).pem", "--out", "\(dir)/\(name)"])
            XCTAssertEqual(sign.code, 0, sign.output)
        }
        try "pool phys prefix=phys first=20001 count=3\nmap \"/physics\" pool=phys\ndeny \"/outlaws\"\n".write(toFile: dir + "/ams.conf", atomically: true, encoding: .utf8)
        let script = Self.root + "/scripts/vo-ssh-login.sh"
        // Ports from our PID, so two runs on one machine do not meet.
        let base = 20000 + Int(getpid() % 4000) * 3
        let (p1, p2, p3) = (String(base), String(base + 1), String(base + 2))
        let member = try run(["/usr/bin/unshare", "-m", "/bin/sh", script, dir, Self.build, p1, "phys001", "alice.key"])
        let sshdLog = (try? String(contentsOfFile: dir + "/sshd.log", encoding: .utf8)) ?? ""
        XCTAssertEqual(member.code, 0, member.output + sshdLog)
        XCTAssertTrue(member.output.contains("user=phys001 XOS_VO=physics XOS_GUID=0f8fad5b-d9cb-469f-a165-70867728950e"), member.output)
        // xos-ssh finds the leased account by itself.
        let wrapped = try run(["/usr/bin/unshare", "-m", "/bin/sh", script, dir, Self.build, p3, "xos-ssh", "alice.key"])
        XCTAssertTrue(wrapped.output.contains("user=phys001 XOS_VO=physics"), wrapped.output)
        for (name, user) in [("mallory", "phys002"), ("eve", "phys002"), ("alice", "phys002")] {
            let refused = try run(["/usr/bin/unshare", "-m", "/bin/sh", script, dir, Self.build, p2, user, "\(name).key"])
            XCTAssertNotEqual(refused.code, 0, "\(name) as \(user) should be refused: \(refused.output)")
            XCTAssertFalse(refused.output.contains("XOS_VO="), refused.output)
        }
    }
}
