import CheckpointImage
import Glibc
import LinuxKit

/// The image's user namespaces, made again once every process of the tree
/// exists (their PIDs are chosen from outside): a child of the restorer takes
/// the owner's user ID, unshares a user namespace and waits while the
/// restorer writes setgroups and the ID maps, and is gone once the restorer
/// holds the namespace by a descriptor. Processes enter it last, with their
/// credentials (UserNamespaceEntry). One that cannot be made (a user's
/// restart whose maps name IDs other than the user's own) leaves its
/// processes in cr_restart's namespace, with a warning.
final class UserNamespaceFactory {
    let namespaces: [UserNamespaceState]
    private var made: [Int: Int32] = [:]
    private(set) var warnings: [String] = []

    init?(namespaces: [UserNamespaceState]) {
        guard !namespaces.isEmpty else { return nil }
        self.namespaces = namespaces
    }

    deinit { for fd in made.values { close(fd) } }

    /// Makes every namespace the processes in `wanted` (1-based numbers) are in.
    func make(_ wanted: Set<Int>) throws {
        for k in wanted.sorted() {
            guard k <= namespaces.count else { continue }  // Restorer refuses such an image first
            do { made[k] = try makeOne(namespaces[k - 1]) } catch {
                warnings.append("user namespace \(k) could not be made again (\(error)): its processes come back in cr_restart's, where their IDs are the ones they had outside")
            }
        }
    }

    /// The entry for namespace `k`, once made.
    func entry(_ k: Int) -> UserNamespaceEntry? {
        guard k > 0, let fd = made[k] else { return nil }
        return UserNamespaceEntry(descriptor: fd, state: namespaces[k - 1])
    }

    private func makeOne(_ ns: UserNamespaceState) throws -> Int32 {
        // As root the namespace gets its owner (its creator's effective user ID); a user's is the user's.
        let owner = geteuid() == 0 && ns.owner != 0 ? Int(ns.owner) : -1
        let spawned = RawChild.spawn {
            _ = Syscall.prctl(.setPdeathsig, Int(SIGKILL))
            if owner >= 0 && Syscall.raw(NR.setresuid, -1, owner, -1) != 0 { Syscall.exitGroup(1) }
            if Syscall.raw(NR.unshare, Int(CloneFlags.newUser)) != 0 { Syscall.exitGroup(2) }
            Syscall.pauseForever()
        }
        let child: pid_t
        switch spawned {
        case .success(let pid): child = pid
        case .failure(let e): throw CheckpointError(e.rawValue, "clone3: \(errorText(e.rawValue))")
        }
        defer {
            kill(child, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(child, &status, __WALL)
        }
        let ours = try Sys.readLink("/proc/self/ns/user")
        var waited = 0
        while (try? Sys.readLink("/proc/\(child)/ns/user")) == ours {
            var status: Int32 = 0
            if waitpid(child, &status, WNOHANG | __WALL) == child {
                throw CheckpointError(EPERM, (status >> 8) & 0xff == 1 ? "taking owner \(ns.owner)'s user ID" : "unshare(CLONE_NEWUSER) refused")
            }
            guard waited < 2000 else { throw CheckpointError(ETIMEDOUT, "the namespace's maker did not make it") }
            usleep(1000)
            waited += 1
        }
        // setgroups before gid_map: "deny" is what lets a user write one; a denied parent keeps it denied.
        if !ns.setgroupsAllowed { try write("/proc/\(child)/setgroups", "deny") }
        try write("/proc/\(child)/uid_map", UserNamespaceState.text(ns.uidMap))
        try write("/proc/\(child)/gid_map", UserNamespaceState.text(ns.gidMap))
        let fd = open("/proc/\(child)/ns/user", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno: errno, "opening the new namespace") }
        return fd
    }

    private func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno: errno, "opening \(path)") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw CheckpointError(errno: n < 0 ? errno : EIO, "writing \(path.split(separator: "/").last ?? "") \(text.split(separator: "\n").joined(separator: ", "))") }
    }
}

/// A made user namespace a process enters, and its maps.
struct UserNamespaceEntry {
    let descriptor: Int32
    let state: UserNamespaceState
}
