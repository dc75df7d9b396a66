import ArgumentParser
import Checkpoint
import CheckpointImage
import Glibc

/// `swiftcr inspect FILE`: what an image holds, without touching any process.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Summarize an image: process, threads, mappings, files, sizes.")
    @Flag(help: "Also read and checksum every page.") var verify = false
    @Argument(help: "The image file.") var file: String

    func run() throws {
        let image: LoadedImage
        do { image = try LoadedImage.load(path: file, verify: verify) } catch let e as ImageError { throw CheckpointError(EINVAL, e.description) }
        let inv = image.inventory
        print("image:     \(file) (format \(image.version), \(inv.producer))")
        print("written:   \(Self.date(inv.createdAt)) on \(inv.hostname), kernel \(inv.kernelRelease) \(inv.machine)")
        for p in image.processes {
            let saved = image.savedBytes(pid: p.pid)
            print("process:   \(p.pid) \(p.command) (ppid \(p.ppid), pgid \(p.pgid), sid \(p.sid), uid \(p.uids.first ?? 0))\(p.stopped ? " stopped" : "")")
            print("exe:       \(p.executable)")
            print("cwd:       \(p.cwd)  umask \(String(p.umask, radix: 8))")
            print("threads:   \(p.threads.count)")
            for t in p.threads {
                print("  tid \(t.tid): rip 0x\(String(t.register("rip") ?? 0, radix: 16)) rsp 0x\(String(t.register("rsp") ?? 0, radix: 16)) xsave \(t.xsave.count) bytes")
            }
            print("mappings:  \(p.mappings.count), \(saved / 4096) pages saved (\(saved / 1024) KiB)")
            for m in p.mappings {
                let pages = image.savedPages(pid: p.pid, in: m)
                let start = String(m.start, radix: 16), end = String(m.end, radix: 16)
                print("  \(start)-\(end) \(m.protectionString) \(String(describing: m.kind).padding(16)) \(String(pages).padding(7, left: true)) \(m.path ?? "")\(Self.adviceText(m.advice))")
            }
            print("files:     \(p.files.count)")
            for f in p.files {
                var extra = f.locks.map { " \($0.kind == .flock ? "flock" : $0.kind == .posix ? "posix-lock" : "ofd-lock")(\($0.write ? "w" : "r") \($0.start)+\($0.length))" }.joined()
                if f.kind == .unixSocket || f.kind == .inetSocket {
                    extra += " \(SocketAddress.describe(f.address)) queued \(f.queued.reduce(0) { $0 + $1.count }) bytes in \(f.queued.count)"
                }
                print("  \(String(f.fd).padding(4, left: true)) \(f.typeName.padding(11)) \(f.path) offset \(f.offset) flags 0\(String(f.flags, radix: 8))\(f.closeOnExec ? " cloexec" : "")\(extra)")
            }
            let itimers = ["real", "virtual", "prof"].enumerated().filter { p.intervalTimers.timer($0.offset).contains { $0 != 0 } }
            if !itimers.isEmpty || !p.posixTimers.isEmpty {
                print("timers:    itimers \(itimers.map(\.element).joined(separator: ",")); POSIX timer IDs \(p.posixTimers.map { String($0.id) }.joined(separator: ","))")
            }
        }
        for z in image.zombies {
            let how = z.waitStatus & 0x7f == 0 ? "exit status \((z.waitStatus >> 8) & 0xff)" : "killed by signal \(z.waitStatus & 0x7f)"
            print("zombie:    \(z.pid) (ppid \(z.ppid), \(how), not yet reaped)")
        }
    }

    static func adviceText(_ a: Mapping.Advice) -> String {
        let names: [(Mapping.Advice, String)] = [(.hugePage, "hugepage"), (.noHugePage, "nohugepage"), (.dontDump, "dontdump"),
                                                 (.dontFork, "dontfork"), (.wipeOnFork, "wipeonfork")]
        let set = names.filter { a.contains($0.0) }.map(\.1)
        return set.isEmpty ? "" : " [" + set.joined(separator: ",") + "]"
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
}
