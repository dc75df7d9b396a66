import CheckpointImage
import Glibc
import LinuxKit

/// The cgroups a process's threads are in, as our cgroup namespace names
/// them: the main thread's for the process, and a thread's own only where it
/// differs (cgroup v1 places threads one by one, v2 in threaded subtrees).
enum CgroupCollector {
    static func collect(into state: inout ProcessState) {
        let pid = state.pid
        // Unreadable only if the thread is gone (it is frozen) or the kernel has no cgroups.
        func read(_ tid: pid_t) -> [CgroupMembership] {
            ((try? ProcCgroup.read(pid: pid, tid: tid)) ?? []).map { CgroupMembership(controllers: $0.controllers, path: $0.path) }
        }
        state.cgroups = read(pid)
        for k in state.threads.indices where state.threads[k].tid != pid {
            let own = read(state.threads[k].tid)
            if !own.isEmpty && own != state.cgroups { state.threads[k].cgroups = own }
        }
    }
}
