import CheckpointImage
import Glibc
import LinuxKit

/// The settings of every cgroup the tree's processes and threads are in,
/// of each cgroup above one, and of each cgroup below one (empty ones too:
/// a restart that makes a path again makes those as well, as CRIU does),
/// read through a mount of its hierarchy we can see. A hierarchy mounted
/// nowhere here is passed over: its cgroups are made again with the
/// kernel's defaults. Each comes with its directory's owner and mode and
/// those of its delegated files, and a v1 devices cgroup with its rules.
enum CgroupSettingsCollector {
    /// Cgroups saved below the tree's own, per hierarchy: a process left in
    /// a big subtree's top (a hierarchy's root is never walked) must not
    /// make the image carry all of it.
    static let descendantLimit = 256

    static func collect(_ processes: [ProcessState]) -> (settings: [CgroupSettings], warnings: [String]) {
        let known = ProcCgroup.knownControllers()
        let mounts = (try? MountInfo.read(pid: getpid())) ?? []
        var seen: Set<String> = []
        var found: [CgroupSettings] = []
        var warnings: [String] = []
        var below: [String: Int] = [:]
        var full: Set<String> = []  // hierarchies whose limit was reached (said once)
        func save(_ cgroup: CgroupMembership, at directory: String) {
            guard seen.insert(cgroup.controllers + ":" + cgroup.path).inserted else { return }
            found.append(read(cgroup, at: directory))
        }
        let memberships = processes.flatMap { $0.cgroups + $0.threads.flatMap(\.cgroups) }
        for m in memberships {
            guard let mount = ProcCgroup.mounts(of: m.controllers, showing: m.path, in: mounts, known: known).first else { continue }
            var path = ""
            for step in m.components {
                path += "/" + step
                save(CgroupMembership(controllers: m.controllers, path: path), at: ProcCgroup.directory(path, under: mount))
            }
            guard !m.components.isEmpty else { continue }
            // Its subtree, parents before children (the restart makes them in this order).
            var stack = [m.path]
            while let top = stack.popLast() {
                for name in Self.subdirectories(ProcCgroup.directory(top, under: mount)).reversed() {
                    let path = top + "/" + name
                    guard !seen.contains(m.controllers + ":" + path) else { continue }
                    guard below[m.controllers, default: 0] < descendantLimit else {
                        if full.insert(m.controllers).inserted {
                            warnings.append("cgroup \(m.controllers.isEmpty ? "cgroup2" : m.controllers):\(m.path) has more than \(descendantLimit) cgroups below it: the rest are not saved")
                        }
                        stack = []
                        break
                    }
                    below[m.controllers, default: 0] += 1
                    save(CgroupMembership(controllers: m.controllers, path: path), at: ProcCgroup.directory(path, under: mount))
                    stack.append(path)
                }
            }
        }
        return (found, warnings)
    }

    private static func read(_ cgroup: CgroupMembership, at directory: String) -> CgroupSettings {
        let values = CgroupSettings.files(for: cgroup.controllers).compactMap { file -> (file: String, value: String)? in
            guard let text = try? Sys.readText(directory + "/" + file) else { return nil }
            var kept = CgroupSettings.lineByLine.contains(file) ? Substring(text) : text.prefix { $0 != "\n" }
            while kept.last == "\n" { kept = kept.dropLast() }
            return (file, String(kept))
        }
        let files = (CgroupSettings.ownedFiles(for: cgroup.controllers) + values.map(\.file)).compactMap { file -> (file: String, ownership: CgroupOwnership)? in
            ownership(directory + "/" + file).map { (file, $0) }
        }
        let devices = cgroup.controllers.split(separator: ",").contains("devices") ? try? Sys.readText(directory + "/devices.list") : nil
        return CgroupSettings(cgroup: cgroup, values: values, directory: ownership(directory), files: files, devices: devices)
    }

    private static func ownership(_ path: String) -> CgroupOwnership? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return CgroupOwnership(mode: st.st_mode, uid: st.st_uid, gid: st.st_gid)
    }

    /// A cgroup's child cgroups (its subdirectories), by name.
    private static func subdirectories(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
