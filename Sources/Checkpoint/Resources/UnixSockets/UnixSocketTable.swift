import CheckpointImage
import LinuxKit

/// The network namespace's UNIX sockets (sock_diag), asked once per checkpoint.
final class UnixSocketTable {
    private var table: [UInt64: UnixSocketInfo]?

    func all() throws -> [UInt64: UnixSocketInfo] {
        if let t = table { return t }
        do {
            let t = try UnixSocketDiag.all()
            table = t
            return t
        } catch let e as SystemCallError {
            throw CheckpointError(e.errno.rawValue, "cannot list UNIX sockets through sock_diag: \(e)")
        }
    }
}
