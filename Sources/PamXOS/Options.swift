import XOS

/// pam_xos's module arguments: policy=, cafile=, crl=, leases=, mode=, vo=, debug.
struct ModuleOptions {
    var policy = MappingPolicy.defaultPath
    var cafile = "/etc/xos/truststore/ca.pem"
    var crl: String?
    var leases = AccountMapper.defaultLeaseDirectory
    /// prompt: certificate and proof through the conversation; ssh: the certificate sshd verified (SSH_AUTH_INFO_0).
    var mode = "prompt"
    var vo: String?
    var debug = false
    var problems: [String] = []

    init(_ args: [String]) {
        for a in args {
            let kv = a.split(separator: "=", maxSplits: 1).map(String.init)
            switch (kv.first ?? "", kv.count) {
            case ("debug", 1): debug = true
            case ("policy", 2): policy = kv[1]
            case ("cafile", 2): cafile = kv[1]
            case ("crl", 2): crl = kv[1]
            case ("leases", 2): leases = kv[1]
            case ("mode", 2) where ["prompt", "ssh"].contains(kv[1]): mode = kv[1]
            case ("vo", 2): vo = kv[1]
            default: problems.append("unknown option '\(a)'")
            }
        }
    }
}
