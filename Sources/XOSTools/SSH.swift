import ArgumentParser
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import XOS

/// xos-ssh: logs in to a node with an XOS-ssh certificate (KEY-cert.pub from
/// `xos-ca ssh-sign`) as the account the VO policy maps it to. The account
/// comes from --account, else from the lease directory and policy when the
/// node's are reachable here (the node itself, or a shared gridmapdir), else
/// from the last login to that host; then OpenSSH does the rest.
struct XOSSSH: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "xos-ssh", abstract: "ssh to a node as the account your VO certificate maps to.")
    @Option(help: "The private key; KEY-cert.pub is its OpenSSH certificate.") var key: String
    @Option(help: "The account, if you know it.") var account: String?
    @Option(help: "The node's lease directory, when reachable from here.") var leases: String?
    @Option(help: "The node's policy, to lease an account when you have none yet.") var policy: String?
    @Option(name: .shortAndLong, help: "ssh port.") var port: Int?
    @Option(name: [.customShort("o"), .customLong("ssh-option")], help: "An option for ssh (-o), repeatable.") var sshOptions: [String] = []
    @Argument(help: "The node.") var host: String
    @Argument(parsing: .captureForPassthrough, help: "A command to run.") var command: [String] = []

    func run() throws {
        let certFile = key + "-cert.pub"
        guard let data = FileManager.default.contents(atPath: certFile) else { throw XOSError("no certificate \(certFile) (xos-ca ssh-sign makes it)") }
        let cert = try OpenSSHCertificate(text: String(decoding: data, as: UTF8.self))
        guard let guid = cert.attributes.globalUserID else { throw XOSError("\(certFile) has no guid: key ID") }
        let cache = (getenv("HOME").map { String(cString: $0) } ?? "/tmp") + "/.xos/accounts"
        var name = account
        if name == nil, let dir = leases {
            let leaseDir = LeaseDirectory(path: dir)
            name = try leaseDir.account(of: guid)
            if name == nil, let p = policy { name = try AccountMapper(policy: try MappingPolicy.load(p), leases: leaseDir).map(cert.attributes).account }
        }
        if name == nil, let saved = FileManager.default.contents(atPath: "\(cache)/\(host)") { name = String(decoding: saved, as: UTF8.self).trimmingSpaces }
        guard let user = name, !user.isEmpty else {
            throw XOSError("which account? give --account NAME, or --leases/--policy of \(host) (on the node: xos-ams map)")
        }
        try? FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(cache)/\(host)", contents: Data(user.utf8))
        var argv = ["ssh", "-i", key, "-o", "CertificateFile=\(certFile)"]
        if let p = port { argv += ["-p", String(p)] }
        for o in sshOptions { argv += ["-o", o] }
        argv += ["\(user)@\(host)"] + command.filter { $0 != "--" }
        let cArgs = argv.map { strdup($0) } + [nil]
        execvp("ssh", cArgs)
        throw XOSError("cannot run ssh: \(String(cString: strerror(errno)))")
    }
}

extension String {
    var trimmingSpaces: String { String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()) }
}
