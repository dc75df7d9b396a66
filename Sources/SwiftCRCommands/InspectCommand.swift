import ArgumentParser
import Checkpoint
import CheckpointImage
import Glibc

/// `swiftcr inspect FILE`: what an image holds, without touching any process.
/// A summary by default; views for the tree, threads, mappings, fds,
/// signals and saved memory; the whole image as JSON with --json.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show what an image holds: summary, views, saved memory, or JSON.")
    @Flag(help: "The whole image as JSON (schema: docs/INSPECT-JSON.md).") var json = false
    @Flag(help: "The process tree.") var tree = false
    @Flag(help: "Threads and their registers.") var threads = false
    @Flag(help: "Mappings with saved page counts.") var mappings = false
    @Flag(help: "File descriptors.") var fds = false
    @Flag(help: "Signal handlers, masks and pending signals.") var signals = false
    @Flag(help: "Every view.") var all = false
    @Option(parsing: .upToNextOption, help: ArgumentHelp("Hex dump of saved memory: ADDR [LEN] (hex with 0x, or decimal; LEN default 256).", valueName: "ADDR [LEN]")) var pages: [String] = []
    @Option(help: "The process for --pages (default: the first).") var pid: Int32?
    @Flag(help: "Skip the page checksums (read only the metadata).") var fast = false
    @Argument(help: "The image file.") var file: String

    func validate() throws {
        if !pages.isEmpty && (pages.count > 2 || Self.number(pages[0]) == nil || (pages.count == 2 && Self.number(pages[1]) == nil)) {
            throw ValidationError("--pages takes ADDR [LEN], numbers in hex (0x...) or decimal")
        }
    }

    func run() throws {
        let image: LoadedImage
        do { image = try LoadedImage.load(path: file, verify: !fast) } catch let e as ImageError { throw CheckpointError(EINVAL, e.description) }
        if json { print(ImageJSON.document(image).rendered()); return }
        if !pages.isEmpty { try dumpPages(image); return }
        let views = [tree, threads, mappings, fds, signals]
        let any = views.contains(true) || all
        if !any || all { summary(image) }
        if tree || all { InspectViews.tree(image) }
        for p in image.processes {
            if threads || all { InspectViews.threads(p) }
            if mappings || all { InspectViews.mappings(p, image) }
            if fds || all { InspectViews.fds(p) }
            if signals || all { InspectViews.signals(p) }
        }
    }

    func summary(_ image: LoadedImage) {
        let inv = image.inventory
        print("image:     \(file) (format \(image.version), \(inv.producer))")
        print("written:   \(Self.date(inv.createdAt)) on \(inv.hostname), kernel \(inv.kernelRelease) \(inv.machine)")
        if inv.preDump { print("pre-dump:  memory read while the processes ran; a parent for --parent, not restarted itself") }
        if let parent = inv.parent {
            let pages = image.processes.flatMap(\.mappings).reduce(UInt64(0)) { $0 + $1.parentPageCount }
            print("parent:    \(parent.path) (image \(String(parent.imageID, radix: 16))): \(pages) pages come from it or its parents")
        }
        let inside = image.tree.namespaceIDs
        if image.tree.ownPIDNamespace { print("namespace: the tree is a whole PID namespace (its root was PID 1 there); IDs inside it in [ ]") }
        func ids(_ id: pid_t) -> String { inside.isEmpty ? "\(id)" : "\(id) [\(inside[id].map(String.init) ?? "outside")]" }
        if let o = image.tree.timeOffsets {
            let inside = image.processes.filter(\.timeNamespace.own).map { String($0.pid) }.joined(separator: " ")
            func seconds(_ s: Int64, _ ns: Int64) -> String { ns == 0 ? "\(s)" : "\(s).\(String(String(ns + 1_000_000_000).dropFirst()))" }
            print("time ns:   monotonic +\(seconds(o[0], o[1])) s, boottime +\(seconds(o[2], o[3])) s; processes in it: \(inside.isEmpty ? "none (their children are born there)" : inside)")
        }
        for (k, ns) in image.tree.mountNamespaces.enumerated() {
            let inside = image.processes.filter { $0.mountNamespace == k + 1 }.map { String($0.pid) }.joined(separator: " ")
            print("mount ns:  \(k + 1), processes \(inside.isEmpty ? "none" : inside): \(ns.mounts.count) mounts\(ns.ownRoot ? ", a root of its own (pivot_root)" : "")")
            for m in ns.mounts where m.plan != .inherited {
                print("           \(m.mountPoint): \(m.fsType) \(m.source), \(MountPlanText.describe(m))")
            }
        }
        func members(_ index: (ProcessState) -> Int, _ k: Int) -> String {
            let pids = image.processes.filter { index($0) == k + 1 }.map { String($0.pid) }.joined(separator: " ")
            return pids.isEmpty ? "none" : pids
        }
        for (k, roots) in image.tree.cgroupNamespaces.enumerated() {
            let shown = roots.map { "\($0.controllers.isEmpty ? "cgroup2" : $0.controllers):\($0.path)" }.joined(separator: ", ")
            print("cgroup ns: \(k + 1), processes \(members(\.cgroupNamespace, k)): rooted at \(shown.isEmpty ? "-" : shown)")
        }
        let saved = image.tree.cgroupSettings
        if !saved.isEmpty {
            let rules = saved.filter { $0.devices != nil }.count
            print("cgroups:   \(saved.count) saved for cr_restart --manage-cgroups\(rules > 0 ? ", \(rules) with device rules" : "") (--json lists them)")
        }
        for (k, ns) in image.tree.userNamespaces.enumerated() {
            func map(_ ranges: [UserNamespaceState.Range]) -> String { ranges.map { "\($0.inside)->\($0.outside)x\($0.count)" }.joined(separator: " ") }
            let owns = UserNamespaceState.ownedKinds(image.processes.filter { $0.userNamespace == k + 1 }.reduce(0) { $0 | $1.ownedByUserNamespace })
            print("user ns:   \(k + 1), processes \(members(\.userNamespace, k)): uids \(map(ns.uidMap)), gids \(map(ns.gidMap)), setgroups \(ns.setgroupsAllowed ? "allow" : "deny"), owner \(ns.owner)"
                  + (owns.isEmpty ? "" : ", owns their \(owns.joined(separator: ", ")) namespaces"))
        }
        for (k, ns) in image.tree.utsNamespaces.enumerated() {
            print("uts ns:    \(k + 1), processes \(members(\.utsNamespace, k)): host \(ns.hostname), domain \(ns.domainname)")
        }
        for k in 0..<image.tree.ipcNamespaces {
            print("ipc ns:    \(k + 1), processes \(members(\.ipcNamespace, k)): \(image.tree.sysvObjects.filter { $0.namespace == k + 1 }.count) SysV objects")
            for v in image.tree.ipcSettings.filter({ $0.namespace == k + 1 }).flatMap(\.values) {
                print("           \(v.path.split(separator: "/").joined(separator: "."))=\(v.value)")
            }
        }
        for (k, ns) in image.tree.netNamespaces.enumerated() {
            let others = ns.otherInterfaces.isEmpty ? "" : "; not saved: \(ns.otherInterfaces.joined(separator: ", "))"
            let tuns = ns.tunDevices.map { "\($0.name) (\($0.flags & 0x2 != 0 ? "tap" : "tun")\($0.flags & 0x800 != 0 ? ", persistent" : ""))" }
            let devices = tuns.isEmpty ? "" : "; TUN/TAP: \(tuns.joined(separator: ", "))"
            print("net ns:    \(k + 1), processes \(members(\.netNamespace, k)): loopback \(ns.loopbackUp ? "up" : "down")\(devices)\(others)")
            for l in ns.links { print("           device \(NetConfigText.describe(l))") }
            for f in ns.firewall { print("           firewall \(f.kind): \(f.text.split(separator: "\n").filter { !$0.hasPrefix("#") }.count) lines") }
            for a in ns.addresses { print("           address \(NetConfigText.describe(a))") }
            for r in ns.routes { print("           route \(NetConfigText.describe(r))") }
            for s in ns.sysctls { print("           net.\(s.path.split(separator: "/").joined(separator: "."))=\(s.value)") }
        }
        for p in image.processes {
            let saved = image.savedBytes(pid: p.pid)
            print("process:   \(ids(p.pid)) \(p.command) (ppid \(ids(p.ppid)), pgid \(ids(p.pgid)), sid \(ids(p.sid)), uid \(p.uids.first ?? 0))\(p.stopped ? " stopped" : "")")
            print("           \(p.threads.count) thread(s), \(p.mappings.count) mappings, \(p.files.count) fds, \(saved / 4096) pages saved (\(saved / 1024) KiB); exe \(p.executable)")
        }
        for z in image.zombies {
            let how = z.waitStatus & 0x7f == 0 ? "exit status \((z.waitStatus >> 8) & 0xff)" : "killed by signal \(z.waitStatus & 0x7f)"
            print("zombie:    \(ids(z.pid)) (ppid \(ids(z.ppid)), \(how), not yet reaped)")
        }
    }

    func dumpPages(_ image: LoadedImage) throws {
        guard let target = pid.flatMap({ p in image.processes.first { $0.pid == p } }) ?? (pid == nil ? image.processes.first : nil) else {
            throw CheckpointError(ESRCH, "the image holds no process \(pid ?? 0)")
        }
        let start = Self.number(pages[0]) ?? 0
        let length = min(pages.count > 1 ? Self.number(pages[1]) ?? 256 : 256, 1 << 24)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(errno: errno, "\(file)") }
        defer { close(fd) }
        let index: ImageIndex
        do { index = try ImageIndex.load(fd: fd) } catch let e as ImageError { throw CheckpointError(EINVAL, e.description) }
        let lookup = PageLookup(index: index, fd: fd)
        var at = start
        let end = start &+ length < start ? UInt64.max : start + length
        var page: (UInt64, [UInt8]?)?
        while at < end {
            let base = at & ~4095
            if page?.0 != base {
                do { page = (base, try lookup.page(pid: target.pid, address: base)) } catch let e as ImageError { throw CheckpointError(EINVAL, e.description) }
            }
            let row = min(16, end - at)
            if let bytes = page?.1 {
                let off = Int(at - base)
                let chunk = bytes[off..<min(off + Int(row), 4096)]
                let hex = chunk.map { String($0, radix: 16).leftPadded(2) }.joined(separator: " ")
                let text = String(chunk.map { (32...126).contains($0) ? Character(UnicodeScalar($0)) : "." })
                print("\(String(at, radix: 16).leftPadded(12))  \(hex.padding(47))  \(text)")
                at += UInt64(chunk.count)
            } else {
                let inMapping = target.mappings.contains { $0.start <= at && at < $0.end }
                print("\(String(at, radix: 16).leftPadded(12))  (page not saved: \(inMapping ? "never touched, all zero, or file-backed and unchanged" : "outside every mapping"))")
                at = base + 4096
            }
        }
    }

    static func number(_ s: String) -> UInt64? {
        s.hasPrefix("0x") ? UInt64(s.dropFirst(2), radix: 16) : UInt64(s)
    }

    static func date(_ seconds: UInt64) -> String {
        var t = time_t(seconds)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, buf.count, "%Y-%m-%d %H:%M:%S UTC", &tmv)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension String {
    func padding(_ width: Int, left: Bool = false) -> String {
        count >= width ? self : (left ? String(repeating: " ", count: width - count) + self : self + String(repeating: " ", count: width - count))
    }
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
