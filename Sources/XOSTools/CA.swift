import ArgumentParser
import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import X509
import XOS

/// xos-ca: the certificate authority for XOS (VO) certificates.
struct XOSCA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xos-ca", abstract: "A certificate authority for XOS certificates with VO attributes.",
        subcommands: [Init.self, IssueUser.self, SignCSR.self, IssueHost.self, Show.self, Verify.self, Revoke.self, CRL.self, Prove.self, SSHSign.self, SSHCA.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the CA key and self-signed certificate in DIR.")
        @Option(help: "The CA directory.") var caDir: String
        @Option(help: "The CA's name.") var subject = "CN=XOS CA,O=swiftcr VO"
        @Option(help: "Validity in days.") var days = 3650
        func run() throws {
            let ca = try CertificateAuthority.create(at: caDir, subject: subject, days: days)
            print("CA \(ca.certificate.subject) in \(caDir) (ca.pem, ca.key)")
        }
    }

    struct Attributes: ParsableArguments {
        @Option(help: "Primary VO.") var vo: String?
        @Option(help: "Secondary VOs, comma-separated.") var vos: String?
        @Option(help: "Primary group.") var group: String?
        @Option(help: "Secondary groups, comma-separated.") var groups: String?
        @Option(help: "Role.") var role: String?
        @Option(help: "Subgroup.") var subgroup: String?
        func attributes(guid: String?) -> VOAttributes {
            var a = VOAttributes()
            a.primaryVO = vo
            a.secondaryVOs = (vos ?? "").split(separator: ",").map(String.init)
            a.globalUserID = guid
            a.primaryGroup = group
            a.secondaryGroups = (groups ?? "").split(separator: ",").map(String.init)
            a.role = role
            a.group = group
            a.subgroup = subgroup
            return a
        }
    }

    struct IssueUser: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a user certificate (PREFIX.pem, and PREFIX.key unless --csr).")
        @Option(help: "The CA directory.") var caDir: String
        @Option(help: "Output prefix.") var out: String
        @Option(help: "Common name.") var cn: String
        @Option(help: "GlobalUserID (a UUID).") var guid: String
        @OptionGroup var attributes: Attributes
        @Option(help: "Validity in days.") var days = 365
        @Option(help: "Sign this CSR's key instead of making one.") var csr: String?
        func run() throws {
            let ca = try CertificateAuthority.load(from: caDir)
            let attrs = attributes.attributes(guid: guid)
            let cert: Certificate
            if let csrFile = csr {
                let request = try CertificateSigningRequest(pemEncoded: try String(contentsOfFile: csrFile, encoding: .utf8))
                cert = try ca.sign(csr: request, attributes: attrs, days: days)
            } else {
                let key = P256.Signing.PrivateKey()
                cert = try ca.issueUser(publicKey: .init(key.publicKey), commonName: cn, attributes: attrs, days: days)
                try writeFile(key.pemRepresentation, "\(out).key", 0o600)
            }
            try writeFile(try cert.serializeAsPEM().pemString, "\(out).pem", 0o644)
            print("issued \(cert.subject) serial \(cert.serialNumber) to \(out).pem")
        }
    }

    struct SignCSR: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sign-csr", abstract: "Sign a certificate request into a user certificate (PREFIX.pem).")
        @Option(help: "The CA directory.") var caDir: String
        @Option(help: "The request (PEM).") var csr: String
        @Option(help: "Output prefix.") var out: String
        @Option(help: "GlobalUserID (a UUID).") var guid: String
        @OptionGroup var attributes: Attributes
        @Option(help: "Validity in days.") var days = 365
        func run() throws {
            let ca = try CertificateAuthority.load(from: caDir)
            let request = try CertificateSigningRequest(pemEncoded: try String(contentsOfFile: csr, encoding: .utf8))
            let cert = try ca.sign(csr: request, attributes: attributes.attributes(guid: guid), days: days)
            try writeFile(try cert.serializeAsPEM().pemString, "\(out).pem", 0o644)
            print("issued \(cert.subject) serial \(cert.serialNumber) to \(out).pem")
        }
    }

    struct IssueHost: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a host (service) certificate: no GlobalUserID.")
        @Option(help: "The CA directory.") var caDir: String
        @Option(help: "Output prefix.") var out: String
        @Option(help: "Host name.") var host: String
        @OptionGroup var attributes: Attributes
        @Option(help: "Validity in days.") var days = 365
        func run() throws {
            let ca = try CertificateAuthority.load(from: caDir)
            let key = P256.Signing.PrivateKey()
            let cert = try ca.issueHost(publicKey: .init(key.publicKey), hostname: host, attributes: attributes.attributes(guid: nil), days: days)
            try writeFile(key.pemRepresentation, "\(out).key", 0o600)
            try writeFile(try cert.serializeAsPEM().pemString, "\(out).pem", 0o644)
            print("issued \(cert.subject) serial \(cert.serialNumber) to \(out).pem")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a certificate's subject, validity and VO attributes.")
        @Argument(help: "The certificate (PEM).") var cert: String
        func run() throws {
            let c = try Certificate(pemEncoded: try String(contentsOfFile: cert, encoding: .utf8))
            let a = try VOAttributes(certificate: c)
            print("subject:   \(c.subject)\nissuer:    \(c.issuer)\nserial:    \(c.serialNumber)\nvalid:     \(c.notValidBefore) to \(c.notValidAfter)")
            print("kind:      \(a.isUser ? "user" : "host (service)")")
            for f in VOAttributes.Field.allCases {
                let v: String? = {
                    switch f {
                    case .primaryVO: return a.primaryVO
                    case .secondaryVOs: return a.secondaryVOs.isEmpty ? nil : a.secondaryVOs.joined(separator: ",")
                    case .globalUserID: return a.globalUserID
                    case .primaryGroup: return a.primaryGroup
                    case .secondaryGroups: return a.secondaryGroups.isEmpty ? nil : a.secondaryGroups.joined(separator: ",")
                    case .role: return a.role
                    case .group: return a.group
                    case .subgroup: return a.subgroup
                    }
                }()
                if let v { print("\(f.name + String(repeating: " ", count: max(0, 26 - f.name.count))) \(v)   (\(f.oid))") }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify a certificate against the CA (and CRL).")
        @Option(help: "The CA certificate.") var cafile: String
        @Option(help: "A CRL to check.") var crl: String?
        @Argument(help: "The certificate (PEM).") var cert: String
        func run() throws {
            let c = try Certificate(pemEncoded: try String(contentsOfFile: cert, encoding: .utf8))
            let a = try XOSVerifier(caFile: cafile, crlFile: crl).verify(c)
            print("\(cert): OK (\(a.isUser ? "user \(a.globalUserID ?? "")" : "host"), VO \(a.primaryVO ?? "-"))")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a certificate issued by this CA.")
        @Option(help: "The CA directory.") var caDir: String
        @Argument(help: "The certificate (PEM).") var cert: String
        func run() throws {
            let ca = try CertificateAuthority.load(from: caDir)
            let c = try Certificate(pemEncoded: try String(contentsOfFile: cert, encoding: .utf8))
            try ca.revoke(c)
            print("revoked \(c.subject) serial \(c.serialNumber); publish a new CRL with xos-ca crl")
        }
    }

    struct SSHSign: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ssh-sign", abstract: "Issue an OpenSSH user certificate (ssh-keygen -s) from an XOS certificate.")
        @Option(help: "The CA directory.") var caDir: String
        @Option(help: "The XOS certificate (PEM).") var cert: String
        @Option(help: "Output prefix: PREFIX.key.pub and PREFIX.key-cert.pub, which ssh -i PREFIX.key finds by itself.") var out: String
        func run() throws {
            let ca = try CertificateAuthority.load(from: caDir)
            let c = try Certificate(pemEncoded: try String(contentsOfFile: cert, encoding: .utf8))
            let a = try XOSVerifier(ca: ca.certificate).verify(c)
            guard let guid = a.globalUserID else { throw XOSError("\(cert) is a host certificate") }
            try writeFile(try OpenSSHCertificate.publicKeyLine(c.publicKey, comment: "guid:\(guid)") + "\n", "\(out).key.pub", 0o644)
            func stamp(_ d: Date) -> String {
                let k = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC") ?? .current, from: d)
                func two(_ v: Int?) -> String { let n = v ?? 0; return n < 10 ? "0\(n)" : "\(n)" }
                let year: String = String(k.year ?? 1970)
                return year + two(k.month) + two(k.day) + two(k.hour) + two(k.minute) + two(k.second)
            }
            var args = ["-q", "-s", "\(caDir)/ca.key", "-I", "guid:\(guid)", "-n", "guid:\(guid)",
                        "-V", "\(stamp(c.notValidBefore)):\(stamp(c.notValidAfter))"]
            let values: [(VOAttributes.Field, String?)] = [(.primaryVO, a.primaryVO), (.secondaryVOs, a.secondaryVOs.isEmpty ? nil : a.secondaryVOs.joined(separator: ",")),
                                                          (.group, a.group), (.role, a.role), (.subgroup, a.subgroup)]
            for (field, value) in values {
                if let value, let name = OpenSSHCertificate.extensionNames.first(where: { $0.0 == field })?.1 { args += ["-O", "extension:\(name)=\(value)"] }
            }
            let status = try runProgram("/usr/bin/ssh-keygen", args + ["\(out).key.pub"])
            guard status == 0 else { throw XOSError("ssh-keygen -s failed (status \(status))") }
            print("OpenSSH certificate guid:\(guid) in \(out).key-cert.pub")
        }
    }

    struct SSHCA: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ssh-ca", abstract: "Print the CA key in OpenSSH form, for sshd's TrustedUserCAKeys.")
        @Option(help: "The CA certificate (PEM).") var cafile: String
        func run() throws {
            let ca = try Certificate(pemEncoded: try String(contentsOfFile: cafile, encoding: .utf8))
            print(try OpenSSHCertificate.publicKeyLine(ca.publicKey, comment: "xos-ca"))
        }
    }

    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Answer pam_xos's proof prompt: sign its nonce with the certificate's key.")
        @Option(help: "The private key (PEM).") var key: String
        @Argument(help: "The nonce from the prompt.") var nonce: String
        func run() throws {
            let k = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: key, encoding: .utf8))
            print(try Proof.sign(nonce: nonce, key: k))
        }
    }

    struct CRL: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "crl", abstract: "Write a signed CRL of every revoked certificate.")
        @Option(help: "The CA directory.") var caDir: String
        @Option(help: "The CRL file (PEM).") var out: String
        @Option(help: "Days until the next update.") var days = 30
        func run() throws {
            let list = try CertificateAuthority.load(from: caDir).crl(days: days)
            try writeFile(list.pem(), out, 0o644)
            print("CRL with \(list.entries.count) revoked certificate(s) in \(out)")
        }
    }
}

func writeFile(_ text: String, _ path: String, _ mode: Int) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
        throw ValidationError("cannot write \(path)")
    }
}
