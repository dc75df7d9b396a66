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
}
