import CheckpointImage
import Glibc
import LinuxKit

/// The settings of every cgroup the tree's processes and threads are in,
/// and of each cgroup above one (a restart that makes a path again makes
/// those too), read through a mount of its hierarchy we can see. A
/// hierarchy mounted nowhere here is passed over: its cgroups are made
/// again with the kernel's defaults.
enum CgroupSettingsCollector {
    static func collect(_ processes: [ProcessState]) -> [CgroupSettings] {
        let known = ProcCgroup.knownControllers()
        let mounts = (try? MountInfo.read(pid: getpid())) ?? []
        var seen: Set<String> = []
        var found: [CgroupSettings] = []
        let memberships = processes.flatMap { $0.cgroups + $0.threads.flatMap(\.cgroups) }
        for m in memberships {
            var path = ""
            for step in m.components {
                path += "/" + step
                let cgroup = CgroupMembership(controllers: m.controllers, path: path)
                guard seen.insert(m.controllers + ":" + path).inserted,
                      let mount = ProcCgroup.mounts(of: m.controllers, showing: path, in: mounts, known: known).first else { continue }
                let directory = ProcCgroup.directory(path, under: mount)
                let values = CgroupSettings.files(for: m.controllers).compactMap { file -> (file: String, value: String)? in
                    guard let text = try? Sys.readText(directory + "/" + file) else { return nil }
                    return (file, String(text.prefix { $0 != "\n" }))
                }
                if !values.isEmpty { found.append(CgroupSettings(cgroup: cgroup, values: values)) }
            }
        }
        return found
    }
}
