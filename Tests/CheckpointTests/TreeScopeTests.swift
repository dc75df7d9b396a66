import Glibc
import LinuxKit
import XCTest
@testable import Checkpoint

/// A tree found through the children files is the tree a scan of every
/// process finds: children of children, a zombie, a thread's child.
final class TreeScopeTests: XCTestCase {
    func testTreeFromChildrenFilesIsTheTreeOfAFullScan() throws {
        // sh execs sleep after starting a shell with two sleeps, and a python
        // whose thread starts a sleep and whose forked child exits unreaped.
        let script = """
        sh -c 'sleep 30 & sleep 30 & wait' & \
        python3 -c 'import os, threading, subprocess, time; t = threading.Thread(target=lambda: subprocess.Popen(["sleep", "30"])); t.start(); t.join(); os.fork() or os._exit(3); time.sleep(30)' & \
        sleep 0.5; echo READY; exec sleep 30
        """
        let root = try Child(["/bin/sh", "-c", script])
        XCTAssertTrue(root.read(until: "READY"), root.output)
        usleep(300_000)
        guard let found = TreeScope.descendants(of: root.pid) else { return XCTFail("no children files") }
        var scanned: Set<pid_t> = [root.pid]
        var grew = true
        while grew {
            grew = false
            for p in (try Sys.numericEntries("/proc")) where !scanned.contains(p) {
                if let st = try? ProcStat.read(pid: p), scanned.contains(st.ppid) { scanned.insert(p); grew = true }
            }
        }
        XCTAssertEqual(Set(found), scanned)
        XCTAssertEqual(found.count, Set(found).count, "each process once")
        XCTAssertGreaterThanOrEqual(scanned.count, 7, "sh, 2 sleeps, python, its sleep, its zombie, and the root")
        XCTAssertTrue(scanned.contains { (try? ProcStat.read(pid: $0))?.state == "Z" }, "the tree has its zombie")
        for p in scanned where p != root.pid { kill(p, SIGKILL) }
    }

    /// zdtm session03's shape: R's child G calls setsid after forking C in
    /// the session that L, a grandchild of R through A, leads. The restart
    /// makes G in L's session first (to fork C there), so L must come
    /// before G in the image; a plain parents-first order puts G first.
    func testALeaderComesAfterTheLeaderOfTheSessionItsChildWasBornIn() throws {
        func stat(_ pid: pid_t, _ ppid: pid_t, _ pgrp: pid_t, _ sid: pid_t, state: String = "S") throws -> ProcStat {
            // The fields after the session (tty, times, exit code...) are all 0 here: 52 in all, as the kernel writes.
            try ProcStat(parsing: "\(pid) (p) \(state) \(ppid) \(pgrp) \(sid) " + Array(repeating: "0", count: 46).joined(separator: " "))
        }
        let r: pid_t = 100, a: pid_t = 101, g: pid_t = 102, l: pid_t = 110, c: pid_t = 120, m: pid_t = 121
        let stats = Dictionary(uniqueKeysWithValues: try [
            stat(r, 1, r, r), stat(a, r, r, r), stat(g, r, g, g), stat(l, a, l, l), stat(c, g, l, l), stat(m, l, l, l),
        ].map { ($0.pid, $0) })
        let order = TreeScope.orderParentsFirst([r, a, g, l, c, m], stats: stats)
        XCTAssertEqual(Set(order), [r, a, g, l, c, m])
        guard let gAt = order.firstIndex(of: g), let lAt = order.firstIndex(of: l), let cAt = order.firstIndex(of: c) else { return XCTFail("\(order)") }
        XCTAssertLessThan(lAt, gAt, "L before G: \(order)")
        XCTAssertLessThan(gAt, cAt, "parents first: \(order)")
        // The session G is born in, as the restart works it out (R too: its child G needs L; L below R, R waits for nobody).
        let birth = SessionOrder([r, a, g, l, c, m].compactMap { stats[$0] }.map { .init(pid: $0.pid, ppid: $0.ppid, sid: $0.session) }).birth
        XCTAssertEqual(birth[g], l)
        XCTAssertEqual(birth[r], l)
        // A leader whose only such session is led by its own descendant keeps its place.
        let cyclic = Dictionary(uniqueKeysWithValues: try [stat(r, 1, r, r), stat(g, r, g, g), stat(l, g, l, l), stat(c, g, l, l)].map { ($0.pid, $0) })
        XCTAssertEqual(TreeScope.orderParentsFirst([r, g, l, c], stats: cyclic).first, r)
        // W is in the session of Z, a zombie whose parent Q is R's grandchild: Q
        // (who makes Z again) before W; a plain order puts W first.
        let w: pid_t = 103, q: pid_t = 130, z: pid_t = 131
        let withZombie = Dictionary(uniqueKeysWithValues: try [
            stat(r, 1, r, r), stat(a, r, r, r), stat(w, r, z, z), stat(q, a, r, r), stat(z, q, z, z, state: "Z"),
        ].map { ($0.pid, $0) })
        let zombieOrder = TreeScope.orderParentsFirst([r, a, w, q], stats: withZombie)
        XCTAssertEqual(zombieOrder, [r, a, q, w])
    }
}
