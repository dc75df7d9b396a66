import CheckpointImage
import LinuxKit

/// One of the network namespace's socket tables (sock_diag: UNIX, packet),
/// asked once per checkpoint and kept.
final class SockDiagTable<Info> {
    private var table: [UInt64: Info]?
    private let what: String
    private let load: () throws -> [UInt64: Info]

    /// `what` names the table in an error ("UNIX sockets through sock_diag").
    init(_ what: String, load: @escaping () throws -> [UInt64: Info]) {
        self.what = what
        self.load = load
    }

    func all() throws -> [UInt64: Info] {
        if let t = table { return t }
        do {
            let t = try load()
            table = t
            return t
        } catch let e as SystemCallError {
            throw CheckpointError(e.errno.rawValue, "cannot list \(what): \(e)")
        }
    }
}
