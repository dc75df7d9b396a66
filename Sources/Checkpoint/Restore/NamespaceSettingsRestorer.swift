import CheckpointImage
import Glibc
import LinuxKit

/// The stub that made each namespace (1-based), filled as they are made.
final class NamespaceStubs: @unchecked Sendable {
    var pids: [Int: pid_t] = [:]
}

extension Restorer {
    /// Every restored network namespace's devices (NetLinkMaker), then its
    /// addresses, routes and settings (NetConfigRestorer) and its firewall
    /// rules (NetFirewall), once all exist;
    /// what could not be made comes back as warnings.
    static func configureNetworks(_ nets: [NetNamespaceState], made: RestorerMadeNamespaces, stubs: [Int: pid_t], externals: [ExternalLink]) -> [String] {
        var warnings: [String] = []
        var maker = NetLinkMaker(nets: nets, stubs: stubs, descriptor: { made.descriptor(of: $0) }, ours: made.ownDescriptor, externals: externals)
        let problems = maker.makeAll()
        if !problems.isEmpty { warnings.append("network devices not made again: \(problems.joined(separator: "; "))") }
        for (k, ns) in nets.enumerated() {
            guard let stub = stubs[k + 1] else { continue }
            do { try NetConfigRestorer.restore(ns, stub: stub) } catch { warnings.append("network namespaces \(k + 1): \(error)") }
            let problems = NetFirewall.write(ns.firewall.map { NetFirewall.Rules(kind: $0.kind, text: $0.text) }, of: stub)
            if !problems.isEmpty { warnings.append("network namespace \(k + 1): firewall rules not set again: \(problems.joined(separator: "; "))") }
        }
        return warnings
    }
}

extension Restorer {
    /// Writes IPC namespace `k`'s saved settings of the paths `only` inside the namespace of `stub`; one that fails is named.
    static func writeIPCSettings(_ all: [IPCNamespaceSettings], namespace k: Int, only: [String], stub: pid_t) throws {
        let values = all.filter { $0.namespace == k }.flatMap(\.values).filter { only.contains($0.path) }
        guard !values.isEmpty else { return }
        let failed = NamespaceSettings.ipc.write(values, of: stub)
        guard failed.isEmpty else {
            throw CheckpointError(EINVAL, "not set again: \(failed.map { "\($0.path.split(separator: "/").joined(separator: ".")): \(errorText($0.error))" }.joined(separator: "; "))")
        }
    }
}
