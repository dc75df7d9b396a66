import CheckpointImage
import Glibc
import LinuxKit

/// The watches of an inotify descriptor, from fdinfo lines
/// `inotify wd:1 ino:3df9d sdev:fe00000 mask:300 ... fhandle-bytes:8 fhandle-type:1 f_handle:9ddf...`,
/// with each watched inode turned back into a path: by its file handle
/// (open_by_handle_at, which needs CAP_DAC_READ_SEARCH), else by looking for
/// the inode among the places the process uses (cwd, open files, mappings,
/// and what those directories hold).
struct InotifyWatches {

    struct Watch { var wd: UInt64; var mask: UInt64; var inode: UInt64; var device: UInt64; var handleType: Int32; var handle: [UInt8] }

    static func parse(_ fdinfo: String) -> [Watch] {
        fdinfo.split(separator: "\n").filter { $0.hasPrefix("inotify ") }.compactMap { line in
            var f: [Substring: Substring] = [:]
            for w in line.split(separator: " ").dropFirst() {
                guard let c = w.firstIndex(of: ":") else { continue }
                f[w[..<c]] = w[w.index(after: c)...]
            }
            // Every number on the line is hex (the kernel's "wd:%x"): watch 10 is "a".
            guard let wd = f["wd"].flatMap({ UInt64($0, radix: 16) }), let ino = f["ino"].flatMap({ UInt64($0, radix: 16) }),
                  let sdev = f["sdev"].flatMap({ UInt64($0, radix: 16) }), let mask = f["mask"].flatMap({ UInt64($0, radix: 16) }) else { return nil }
            let handle = f["f_handle"].map { hex in stride(from: 0, to: hex.count - 1, by: 2).compactMap { k -> UInt8? in
                let s = hex.index(hex.startIndex, offsetBy: k)
                return UInt8(hex[s..<hex.index(s, offsetBy: 2)], radix: 16)
            } } ?? []
            // The kernel's dev_t is major << 20 | minor; user space's is glibc's makedev.
            let device = UInt64(Device.make(major: UInt32(sdev >> 20), minor: UInt32(sdev & 0xfffff)))
            return Watch(wd: wd, mask: mask, inode: ino, device: device, handleType: f["fhandle-type"].flatMap { Int32($0, radix: 16) } ?? 0, handle: handle)
        }
    }

    /// The watches of an inotify descriptor; warns of watches whose path was not found.
    /// `removed`: the process's descriptors of removed files by (device,
    /// inode): such a watched file is watched through its descriptor again.
    /// `elsewhere`: the scope's other mount namespaces, asked for only when
    /// a watched file is on no mount of ours; a watch found through one is
    /// named to `foundIn` (its number and the namespace's link).
    static func record(fd: Int32, fdinfo: String, places: [String], removed: [[UInt64]: (fd: Int32, link: String)] = [:],
                       elsewhere: () -> [(link: [UInt8], pid: pid_t, mounts: [MountInfo])] = { [] },
                       foundIn: (UInt64, [UInt8]) -> Void = { _, _ in }, warn: (String) -> Void) -> InotifyRecord {
        var search: [[UInt64]: String]?
        var watches: [InotifyRecord.Watch] = []
        for w in parse(fdinfo).sorted(by: { $0.wd < $1.wd }) {
            if let holder = removed[[w.device, w.inode]] {
                watches.append(.init(wd: w.wd, mask: w.mask, path: holder.link, heldBy: UInt64(holder.fd)))
                continue
            }
            var path = byHandle(w)
            if path == nil {
                if search == nil { search = index(places) }
                path = search?[[w.device, w.inode]]
            }
            if path == nil, mountPoint(device: w.device) == nil {
                for ns in elsewhere() {
                    guard let m = ns.mounts.first(where: { UInt64(Device.make(major: $0.major, minor: $0.minor)) == w.device }) else { continue }
                    // By handle (CAP_DAC_READ_SEARCH), else among the places as that namespace has them.
                    let found = byHandle(w, through: "/proc/\(ns.pid)/root\(m.mountPoint)") ?? places.first { place in
                        var st = stat()
                        return place.hasPrefix("/") && stat("/proc/\(ns.pid)/root\(place)", &st) == 0
                            && UInt64(st.st_dev) == w.device && UInt64(st.st_ino) == w.inode
                    }
                    guard let found else { continue }
                    path = found
                    foundIn(w.wd, ns.link)
                    break
                }
            }
            guard let p = path else {
                warn("fd \(fd): inotify watch \(w.wd) (inode \(w.inode)) has no path this user can find; it is dropped")
                continue
            }
            watches.append(.init(wd: w.wd, mask: w.mask, path: p))
        }
        return InotifyRecord(watches: watches)
    }

    /// open_by_handle_at through any mount of the watched file system.
    static func byHandle(_ w: Watch) -> String? {
        guard let mount = mountPoint(device: w.device) else { return nil }
        return byHandle(w, through: mount)
    }

    /// open_by_handle_at through the mount at `mount`; the path as the
    /// mount's namespace names it.
    static func byHandle(_ w: Watch, through mount: String) -> String? {
        guard !w.handle.isEmpty else { return nil }
        let mountFD = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC)  // an O_PATH mount fd gives EBADF
        guard mountFD >= 0 else { return nil }
        defer { close(mountFD) }
        guard let fd = KernelFileHandle(type: w.handleType, bytes: w.handle).open(mountFD: mountFD, flags: OpenFlags.path | O_CLOEXEC) else { return nil }
        defer { close(Int32(fd)) }
        return try? String(decoding: Sys.readLink("/proc/self/fd/\(fd)"), as: UTF8.self)
    }

    /// A mount point of the file system with this device number, from /proc/self/mountinfo.
    static func mountPoint(device: UInt64) -> String? {
        (try? MountInfo.read(pid: getpid()))?.first { UInt64(Device.make(major: $0.major, minor: $0.minor)) == device }?.mountPoint
    }

    /// (device, inode) -> path for the given places, their parents, and two levels below those directories.
    static func index(_ places: [String]) -> [[UInt64]: String] {
        var out: [[UInt64]: String] = [:]
        var budget = 20000
        func add(_ path: String) -> Bool {
            var st = stat()
            guard stat(path, &st) == 0 else { return false }
            let key = [UInt64(st.st_dev), UInt64(st.st_ino)]
            if out[key] == nil { out[key] = path }
            return st.st_mode & S_IFMT == S_IFDIR
        }
        func walk(_ d: String, depth: Int) {
            guard add(d), depth > 0, let dir = opendir(d) else { return }
            defer { closedir(dir) }
            while budget > 0, let e = readdir(dir) {
                budget -= 1
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard name != "." && name != ".." else { continue }
                let child = d == "/" ? "/" + name : d + "/" + name
                if e.pointee.d_type == UInt8(DT_DIR) { walk(child, depth: depth - 1) } else { _ = add(child) }
            }
        }
        var dirs: Set<String> = []
        for p in places where p.hasPrefix("/") {
            _ = add(p)
            let parent = p.lastIndex(of: "/").map { String(p[..<$0]) } ?? "/"
            dirs.insert(parent.isEmpty ? "/" : parent)
            dirs.insert(p)
        }
        for d in dirs.sorted() { walk(d, depth: 2) }
        return out
    }
}
