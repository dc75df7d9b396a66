import CheckpointImage
import Checkpoint

/// The views of `swiftcr inspect`.
enum InspectViews {
    static func tree(_ image: LoadedImage) {
        print("tree:")
        let pids = Set(image.processes.map(\.pid))
        func show(_ p: ProcessState, depth: Int) {
            print(String(repeating: "  ", count: depth + 1) + "\(p.pid) \(p.command)\(p.pgid == p.pid ? " [group leader]" : "")\(p.sid == p.pid ? " [session leader]" : "")")
            for c in image.processes where c.ppid == p.pid && c.pid != p.pid { show(c, depth: depth + 1) }
            for z in image.zombies where z.ppid == p.pid {
                print(String(repeating: "  ", count: depth + 2) + "\(z.pid) <zombie>")
            }
        }
        for root in image.processes where !pids.contains(root.ppid) { show(root, depth: 0) }
    }

    static func threads(_ p: ProcessState) {
        print("threads of \(p.pid) \(p.command):")
        for t in p.threads {
            print("  tid \(t.tid): signal mask 0x\(String(t.signalMask, radix: 16)), xsave \(t.xsave.count) bytes\(t.pendingSignals.isEmpty ? "" : ", \(t.pendingSignals.count) signal(s) pending")")
            if let s = t.scheduling { print("   scheduling: \(SchedulingText.describe(s))") }
            let named = zip(ThreadState.registerNames, t.registers).map { "\($0.0.padding(8, left: true)) 0x\(String($0.1, radix: 16).leftPadded(16))" }
            stride(from: 0, to: named.count, by: 3).forEach { k in print("   " + named[k..<min(k + 3, named.count)].joined(separator: "  ")) }
        }
    }

    static func mappings(_ p: ProcessState, _ image: LoadedImage) {
        print("mappings of \(p.pid) \(p.command): \(p.mappings.count)")
        for (m, pages) in zip(p.mappings, image.savedPages(pid: p.pid, in: p.mappings)) {
            let start = String(m.start, radix: 16), end = String(m.end, radix: 16)
            print("  \(start)-\(end) \(m.protectionString) \(String(describing: m.kind).padding(16)) \(String(pages).padding(7, left: true)) \(m.path ?? "")\(adviceText(m.advice))\(m.savedWhole ? " [saved whole]" : "")\(m.hugePageSize == 0 ? "" : " [hugetlb \(m.hugePageSize >> 10) KiB pages]")\(m.inheritedRuns.isEmpty ? "" : " [\(m.inheritedPageCount) pages shared with the parent]")\(m.parentRuns.isEmpty ? "" : " [\(m.parentPageCount) pages in the parent image]")")
        }
    }

    static func fds(_ p: ProcessState) {
        print("fds of \(p.pid) \(p.command): \(p.files.count)")
        for f in p.files {
            var extra = f.locks.map { " \($0.kind == .flock ? "flock" : $0.kind == .posix ? "posix-lock" : "ofd-lock")(\($0.write ? "w" : "r") \($0.start)+\($0.length))" }.joined()
            extra += FileKinds.describe(f)
            if f.inFlight { extra += " (in flight in a socket queue)" }
            print("  \(String(f.fd).padding(4, left: true)) \(f.typeName.padding(11)) \(f.path) offset \(f.offset) flags 0\(String(f.flags, radix: 8))\(f.closeOnExec ? " cloexec" : "")\(extra)")
        }
        let itimers = ["real", "virtual", "prof"].enumerated().filter { p.intervalTimers.timer($0.offset).contains { $0 != 0 } }
        if !itimers.isEmpty || !p.posixTimers.isEmpty {
            print("  timers: itimers \(itimers.map(\.element).joined(separator: ",")); POSIX timer IDs \(p.posixTimers.map { String($0.id) }.joined(separator: ","))")
        }
    }

    static func signals(_ p: ProcessState) {
        print("signals of \(p.pid) \(p.command):")
        for a in p.signalActions where a.handler != 0 {
            let what = a.handler == 1 ? "ignored" : "handler 0x\(String(a.handler, radix: 16))"
            print("  \(String(a.signal).padding(3, left: true)): \(what), flags 0x\(String(a.flags, radix: 16)), mask 0x\(String(a.mask, radix: 16))")
        }
        for t in p.threads { print("  tid \(t.tid): blocked 0x\(String(t.signalMask, radix: 16)), \(t.pendingSignals.count) pending") }
        print("  process-wide pending: \(p.sharedPending.compactMap { ImageJSON.signalNumber($0) }.map(String.init).joined(separator: ", "))")
    }

    static func adviceText(_ a: Mapping.Advice) -> String {
        let names: [(Mapping.Advice, String)] = [(.hugePage, "hugepage"), (.noHugePage, "nohugepage"), (.dontDump, "dontdump"),
                                                 (.dontFork, "dontfork"), (.wipeOnFork, "wipeonfork"), (.locked, "locked"),
                                                 (.sequential, "sequential"), (.random, "random"), (.mergeable, "mergeable"), (.noReserve, "noreserve"), (.droppable, "droppable")]
        let set = names.filter { a.contains($0.0) }.map(\.1)
        return set.isEmpty ? "" : " [" + set.joined(separator: ",") + "]"
    }
}
