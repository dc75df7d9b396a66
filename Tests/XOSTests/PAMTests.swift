import Foundation
import XCTest

/// pam_xos.so driven by pam_app_conv (a private PAM config directory) and by
/// pamtester (a private /etc/pam.d bind-mounted in a mount namespace):
/// nothing under /etc changes on the machine.
final class PAMTests: XCTestCase {
    static let build = Repository.build
    var dir = ""

    func tool(_ n: String) -> String { Self.build + "/" + n }

    @discardableResult
    func run(_ argv: [String]) throws -> (code: Int32, output: String) { try runProgram(argv) }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: tool("pam_app_conv")), FileManager.default.fileExists(atPath: tool("libpam_xos.so")) else {
            throw XCTSkip("build the VO module first (swift build)")
        }
        dir = NSTemporaryDirectory() + "pam-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/pam.d", withIntermediateDirectories: true)
        XCTAssertEqual(try run([tool("xos-ca"), "init", "--ca-dir", dir + "/ca"]).code, 0)
        for (name, vo, guid) in [("alice", "physics", "0f8fad5b-d9cb-469f-a165-70867728950e"), ("mallory", "outlaws", "1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
                                 ("bob", "physics", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")] {
            XCTAssertEqual(try run([tool("xos-ca"), "issue-user", "--ca-dir", dir + "/ca", "--out", "\(dir)/\(name)", "--cn", name,
                                    "--vo", vo, "--guid", guid, "--group", "analysis", "--role", "member"]).code, 0)
        }
        try "pool phys prefix=phys first=20001 count=5\nmap \"/physics/*\" pool=phys\nmap \"/physics\" pool=phys\ndeny \"/outlaws\"\n"
            .write(toFile: dir + "/ams.conf", atomically: true, encoding: .utf8)
        // bob is revoked, and the CRL says so.
        XCTAssertEqual(try run([tool("xos-ca"), "revoke", "--ca-dir", dir + "/ca", dir + "/bob.pem"]).code, 0)
        XCTAssertEqual(try run([tool("xos-ca"), "crl", "--ca-dir", dir + "/ca", "--out", dir + "/crl.pem"]).code, 0)
        let options = "cafile=\(dir)/ca/ca.pem policy=\(dir)/ams.conf leases=\(dir)/leases crl=\(dir)/crl.pem"
        let module = tool("libpam_xos.so")
        try ["auth", "account", "session"].map { "\($0) required \(module) \(options)" }.joined(separator: "\n")
            .write(toFile: dir + "/pam.d/xos-test", atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func appConv(_ name: String, user: String) throws -> (code: Int32, output: String) {
        try run([tool("pam_app_conv"), "--service", "xos-test", "--confdir", dir + "/pam.d", "--user", user,
                 "--cert", "\(dir)/\(name).pem", "--key", "\(dir)/\(name).key"])
    }

    func testMemberIsAdmittedWithTheSessionEnvironment() throws {
        let r = try appConv("alice", user: "phys001")
        XCTAssertEqual(r.code, 0, r.output)
        for line in ["auth: Success", "account: Success", "session: Success", "XOS_VO=physics", "XOS_GUID=0f8fad5b-d9cb-469f-a165-70867728950e", "XOS_ROLE=member", "XOS_GROUPS=analysis"] {
            XCTAssertTrue(r.output.contains(line), "\(line) missing: \(r.output)")
        }
    }

    func testRefusals() throws {
        let wrongUser = try appConv("alice", user: "root")
        XCTAssertEqual(wrongUser.code, 1)
        XCTAssertTrue(wrongUser.output.contains("auth: Permission denied"), wrongUser.output)
        let denied = try appConv("mallory", user: "phys002")
        XCTAssertEqual(denied.code, 1)
        XCTAssertTrue(denied.output.contains("auth: Permission denied"), denied.output)
        let revoked = try appConv("bob", user: "phys002")
        XCTAssertEqual(revoked.code, 1)
        XCTAssertTrue(revoked.output.contains("auth: Authentication failure"), revoked.output)
        // The key must match the certificate: alice's certificate with mallory's key has no proof of possession.
        let stolen = try run([tool("pam_app_conv"), "--service", "xos-test", "--confdir", dir + "/pam.d", "--user", "phys001",
                              "--cert", "\(dir)/alice.pem", "--key", "\(dir)/mallory.key"])
        XCTAssertEqual(stolen.code, 1)
        XCTAssertTrue(stolen.output.contains("auth: Authentication failure"), stolen.output)
    }

    /// pamtester (a C host: the module must need no Swift runtime) in a mount namespace with a private /etc/pam.d.
    func testPamtester() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/pamtester") else { throw XCTSkip("needs root and pamtester") }
        let pem = try String(contentsOfFile: dir + "/alice.pem", encoding: .utf8).replacingOccurrences(of: "\n", with: "")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        p.arguments = ["-m", "sh", "-c", "mount --bind '\(dir)/pam.d' /etc/pam.d && exec pamtester -v xos-test phys001 authenticate open_session"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        try p.run()
        input.fileHandleForWriting.write(Data((pem + "\n").utf8))
        var seen = ""
        let reader = output.fileHandleForReading
        while !(seen.contains("sign nonce") && seen.hasSuffix(": ")) {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        guard let nonce = seen.components(separatedBy: "sign nonce ").last?.prefix(while: { $0.isHexDigit }), !nonce.isEmpty else {
            p.terminate()
            return XCTFail("no nonce prompt: \(seen)")
        }
        let proof = try run([tool("xos-ca"), "prove", "--key", dir + "/alice.key", String(nonce)])
        input.fileHandleForWriting.write(Data(proof.output.utf8))
        try input.fileHandleForWriting.close()
        let rest = String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, seen + rest)
        XCTAssertTrue(rest.contains("successfully authenticated") && rest.contains("successfully opened a session"), seen + rest)
    }

    /// Only the PAM entry points are in its dynamic symbol table: no Swift
    /// symbol, not even a local one (gold left those; the module links with lld).
    func testExportsOnlyPamEntryPoints() throws {
        let r = try run(["/usr/bin/nm", "-D", "--defined-only", tool("libpam_xos.so")])
        let exported = r.output.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: " ")
            return f.count == 3 ? String(f[2]) : nil
        }
        XCTAssertEqual(Set(exported), ["pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt", "pam_sm_open_session", "pam_sm_close_session"])
    }
}
