// FoundationEssentials, not Foundation: pam_xos.so carries its own copy, and
// two full Foundations (NSString bridging) clash in a Swift host process.
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Maps a verified certificate's VO attributes to a local account by the
/// policy: a static account, a leased pool account, or a refusal.
public struct AccountMapper {
    public let policy: MappingPolicy
    public let leases: LeaseDirectory

    public static let defaultLeaseDirectory = "/var/lib/xos/leases"

    public init(policy: MappingPolicy, leases: LeaseDirectory) {
        self.policy = policy
        self.leases = leases
    }

    public struct Mapping: Equatable, Sendable {
        public var account: String
        public var group: String?
        public var fqan: String
        public var line: Int
    }

    /// The account for these attributes; throws with the reason when refused.
    public func map(_ a: VOAttributes) throws -> Mapping {
        guard let holder = a.globalUserID else { throw XOSError("a host certificate (no GlobalUserID) maps to no user account") }
        guard let (rule, fqan) = policy.decide(a) else {
            throw XOSError("no policy rule matches \(MappingPolicy.fqans(a).joined(separator: " "))")
        }
        switch rule.target {
        case .deny: throw XOSError("\(fqan) is denied by the policy (line \(rule.line))")
        case .account(let name): return Mapping(account: name, group: nil, fqan: fqan, line: rule.line)
        case .pool(let name, let group):
            guard let pool = policy.pools[name] else { throw XOSError("pool \(name) is not defined") }
            return Mapping(account: try leases.lease(pool, for: holder), group: group, fqan: fqan, line: rule.line)
        }
    }
}
