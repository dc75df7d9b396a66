import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import X509
import XOS

/// xos-ams: the account mapping service's command line.
struct XOSAMS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xos-ams", abstract: "Map VO certificates to local accounts; list, release and look up pool leases.",
        subcommands: [Map.self, Lease.self, Unmap.self, List.self, Reverse.self, Check.self, Principals.self])

    struct Common: ParsableArguments {
        @Option(help: "The policy file.") var policy = MappingPolicy.defaultPath
        @Option(help: "The lease directory.") var leases = AccountMapper.defaultLeaseDirectory
    }

    struct Map: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the account a certificate maps to (leasing one from a pool).")
        @OptionGroup var common: Common
        @Option(help: "The trusted CA certificate.") var cafile: String
        @Option(help: "A CRL to check.") var crl: String?
        @Argument(help: "The user certificate (PEM).") var cert: String
        func run() throws {
            let c = try Certificate(pemEncoded: try String(contentsOfFile: cert, encoding: .utf8))
            let attrs = try XOSVerifier(caFile: cafile, crlFile: crl).verify(c)
            let mapper = AccountMapper(policy: try MappingPolicy.load(common.policy), leases: LeaseDirectory(path: common.leases))
            let m = try mapper.map(attrs)
            print("\(m.account)\(m.group.map { " group=\($0)" } ?? "") (\(m.fqan), rule at line \(m.line))")
        }
    }

    struct Lease: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lease (or show) a pool account for a holder, without a certificate.")
        @OptionGroup var common: Common
        @Option(help: "The pool.") var pool: String
        @Argument(help: "The holder (GlobalUserID).") var holder: String
        func run() throws {
            guard let p = try MappingPolicy.load(common.policy).pools[pool] else { throw XOSError("no pool \(pool) in \(common.policy)") }
            print(try LeaseDirectory(path: common.leases).lease(p, for: holder))
        }
    }

    /// sshd's AuthorizedPrincipalsCommand (`xos-ams principals ... %u %k`): prints the certificate's
    /// principal when it is signed by the XOS CA and maps to the target user; prints nothing otherwise.
    struct Principals: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "sshd's AuthorizedPrincipalsCommand: the principal a certificate may log in as USER with.")
        @OptionGroup var common: Common
        @Option(help: "The trusted CA certificate.") var cafile: String
        @Argument(help: "The target user (%u).") var user: String
        @Argument(help: "The certificate, base64 (%k).") var certificate: String
        func run() throws {
            let cert = try OpenSSHCertificate(text: certificate)
            let ca = try Certificate(pemEncoded: try String(contentsOfFile: cafile, encoding: .utf8))
            guard cert.signatureKey == (try OpenSSHCertificate.publicKeyBlob(ca.publicKey)) else { throw XOSError("\(cert.keyID): not signed by the XOS CA") }
            let mapping = try AccountMapper(policy: try MappingPolicy.load(common.policy), leases: LeaseDirectory(path: common.leases)).map(cert.attributes)
            if mapping.account == user { print(cert.keyID) }
        }
    }

    struct Unmap: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Release a holder's pool lease.")
        @OptionGroup var common: Common
        @Argument(help: "The holder (GlobalUserID).") var holder: String
        func run() throws {
            guard LeaseDirectory(path: common.leases).release(holder) else { throw XOSError("\(holder) holds no lease") }
            print("released \(holder)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List leased pool accounts.")
        @OptionGroup var common: Common
        func run() throws {
            for l in try LeaseDirectory(path: common.leases).list() { print("\(l.account) \(l.holder)") }
        }
    }

    struct Reverse: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print who holds a pool account.")
        @OptionGroup var common: Common
        @Argument(help: "The account name.") var account: String
        func run() throws {
            guard let h = try LeaseDirectory(path: common.leases).list().first(where: { $0.account == account }) else {
                throw XOSError("\(account) is not leased")
            }
            print(h.holder)
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Parse a policy file and report its rules.")
        @OptionGroup var common: Common
        func run() throws {
            let p = try MappingPolicy.load(common.policy)
            print("\(common.policy): \(p.rules.count) rule(s), \(p.pools.count) pool(s)")
        }
    }
}
