import Glibc
import XCTest

/// Each fixture checks its own state after a real checkpoint and restart,
/// as root with its original PID and as an unprivileged user with a new one.
final class RoundTripTests: XCTestCase {
    /// A kernel whose vDSO is not the image's (made to look so here with
    /// SWIFTCR_VDSO_PROXY=1: this machine has one kernel): glibc's cached vDSO
    /// calls go through a copy of the old vDSO whose functions jump to this
    /// kernel's, moved elsewhere; clocks, getcpu and the ELF headers at the
    /// old address are checked by the process, in two threads, as root and
    /// as a user. Without it, the vDSO is back where it was.
    func testVDSOProxyForAnotherKernelAsRootAndUser() throws {
        for mode in [Scenario.Mode.rootOriginalPID, .unprivilegedNamespace] {
            var s = Scenario(fixture: "vdsoproxy", arguments: ["proxied"])
            s.restartEnvironment = ["SWIFTCR_VDSO_PROXY=1"]
            try s.run(mode)
        }
        try Scenario(fixture: "vdsoproxy").run(.rootOriginalPID)
    }

    static let memory = Scenario(fixture: "memory", arguments: ["@/memory.data"])
    static let files = Scenario(fixture: "files", arguments: ["@"])
    static let signals = Scenario(fixture: "signals")
    static let registers = Scenario(fixture: "registers")
    static let busyLoop = Scenario(fixture: "busyloop")
    static let blockedRead = Scenario(fixture: "syscalls", arguments: ["read"], poke: { $0.write("hello\n") })
    static let blockedSleep = Scenario(fixture: "syscalls", arguments: ["sleep"], poke: { _ in })
    static let blockedPoll = Scenario(fixture: "syscalls", arguments: ["poll"], poke: { $0.write("hello\n") })

    func testMemoryAsRoot() throws { try Self.memory.run(.rootOriginalPID) }
    func testMemoryUnprivileged() throws { try Self.memory.run(.unprivilegedNewPID) }
    func testFilesAsRoot() throws { try Self.files.run(.rootOriginalPID) }
    func testFilesUnprivileged() throws { try Self.files.run(.unprivilegedNewPID) }
    func testSignalsAsRoot() throws { try Self.signals.run(.rootOriginalPID) }
    func testSignalsUnprivileged() throws { try Self.signals.run(.unprivilegedNewPID) }
    func testEnvironmentAsRoot() throws { try Scenario(fixture: "environment", arguments: ["@", "same-pid"]).run(.rootOriginalPID) }
    /// Two seccomp filters come back (root reads them with ptrace) and still judge the restored process's calls.
    func testSeccompFiltersAsRoot() throws { try Scenario(fixture: "environment", arguments: ["@", "same-pid", "seccomp"]).run(.rootOriginalPID) }
    /// A filter installed as root without no_new_privs, then root dropped: installed again before the credentials drop.
    func testSeccompFilterBeforePrivilegeDropAsRoot() throws {
        guard geteuid() == 0 else { throw XCTSkip("the fixture drops root") }
        try Scenario(fixture: "seccompdrop").run(.rootOriginalPID)
    }
    /// Threads sharing a filter share it again: a later TSYNC filter reaches them all.
    func testSeccompSharedFilterAsRoot() throws {
        guard geteuid() == 0 else { throw XCTSkip("reading seccomp filters needs root") }
        try Scenario(fixture: "seccomptsync").run(.rootOriginalPID)
    }
    func testEnvironmentUnprivileged() throws { try Scenario(fixture: "environment", arguments: ["@"]).run(.unprivilegedNewPID) }
    /// An administrator's checkpoint and restart of a user's processes (as BLCR
    /// lets root do): memory, files, signals, registers, timers, sockets,
    /// pipes, shared memory, System V IPC and trees come back the user's.
    func testAUsersProcessesCheckpointedAndRestartedByRoot() throws {
        for s in [Self.memory, Self.files, Self.signals, Self.registers, Scenario(fixture: "timers"),
                  Scenario(fixture: "sockets", arguments: ["@"]), Self.pipes, Self.sharedMemory, Self.sysv([]),
                  Self.pipeline, Self.sharedFiles, Scenario(fixture: "groups")] {
            try s.run(.rootForUser)
        }
    }

    /// NUMA memory policies of threads (set_mempolicy) and mappings (mbind).
    func testMemoryPoliciesAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "numa")
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    /// A user's process checkpointed and restarted by root: its limits (which
    /// prlimit64 hides from a root without CAP_SYS_RESOURCE) and each thread's
    /// parent-death signal (which the change of user ID clears) come back.
    func testEnvironmentOfAUserRestartedByRoot() throws {
        try Scenario(fixture: "environment", arguments: ["@", "same-pid"]).run(.rootForUser)
    }
    func testRegistersAsRoot() throws { try Self.registers.run(.rootOriginalPID) }
    func testRegistersUnprivileged() throws { try Self.registers.run(.unprivilegedNewPID) }
    func testBusyLoopAsRoot() throws { try Self.busyLoop.run(.rootOriginalPID) }
    func testBusyLoopUnprivileged() throws { try Self.busyLoop.run(.unprivilegedNewPID) }
    func testBlockedReadAsRoot() throws { try Self.blockedRead.run(.rootOriginalPID) }
    func testBlockedReadUnprivileged() throws { try Self.blockedRead.run(.unprivilegedNewPID) }
    func testBlockedSleepAsRoot() throws { try Self.blockedSleep.run(.rootOriginalPID) }
    func testBlockedSleepUnprivileged() throws { try Self.blockedSleep.run(.unprivilegedNewPID) }
    /// poll() with no timeout is restarted by the kernel through a restart
    /// block a restored process does not have: it is issued again instead of failing with EINTR.
    func testBlockedPollAsRoot() throws { try Self.blockedPoll.run(.rootOriginalPID) }
    func testBlockedPollUnprivileged() throws { try Self.blockedPoll.run(.unprivilegedNewPID) }
    func testBlockedPauseAsRoot() throws { try Scenario(fixture: "syscalls", arguments: ["pause"]).run(.rootOriginalPID) }
    func testBlockedPauseUnprivileged() throws { try Scenario(fixture: "syscalls", arguments: ["pause"]).run(.unprivilegedNewPID) }
    /// A session leader, a child leading its own group, a grandchild, and an
    /// unreaped zombie: parents reap their children after restart.
    func testProcessTreeWithIDsAsRoot() throws {
        var s = Scenario(fixture: "tree", arguments: ["ids"], poke: { signalDescendants(of: $0.pid, SIGTERM) })
        s.checkpointArguments = ["--tree"]
        s.restartArguments = ["--restore-pgid", "--restore-sid"]
        s.settle = 400_000
        try s.run(.rootOriginalPID)
    }

    /// Zombies that exited with codes and died by SIGKILL, SIGSEGV and SIGTERM
    /// come back as zombies with exactly that status.
    func testZombiesOfEveryDeathAsRoot() throws {
        var s = Scenario(fixture: "zombies")
        s.checkpointArguments = ["--tree"]
        try s.run(.rootOriginalPID)
    }

    func testZombiesOfEveryDeathUnprivileged() throws {
        var s = Scenario(fixture: "zombies")
        s.checkpointArguments = ["--tree"]
        try s.run(.unprivilegedNewPID)
    }

    /// A signal to cr_restart goes to the restarted process (BLCR), and once
    /// that has exited, to the rest of the restored tree: a job whose first
    /// process ends without its members leaves no orphans running.
    func testSignalToRestartLeavesNoOrphansAsRootAndUnprivileged() throws {
        var s = Scenario(fixture: "orphanjob")  // poked through cr_restart only
        s.checkpointArguments = ["--tree"]
        s.settle = 300_000
        s.expectOutput = "member 2 ended"
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    func testProcessTreeUnprivileged() throws {
        var s = Scenario(fixture: "tree", arguments: ["plain"], poke: { signalDescendants(of: $0.pid, SIGTERM) })
        s.checkpointArguments = []  // BLCR's default scope is the tree
        s.settle = 400_000
        try s.run(.unprivilegedNewPID)
    }

    /// Unprivileged, with original PIDs and TIDs inside a new user+PID namespace:
    /// the fixtures check getpid(), TIDs held in mutexes, sessions and groups.
    func testEnvironmentInNamespaceUnprivileged() throws {
        try Scenario(fixture: "environment", arguments: ["@", "same-pid"]).run(.unprivilegedNamespace)
    }

    func testThreadsWithExactTIDsInNamespaceUnprivileged() throws {
        try Scenario(fixture: "threads", arguments: ["exact"]).run(.unprivilegedNamespace)
    }

    func testProcessTreeWithIDsInNamespaceUnprivileged() throws {
        var s = Scenario(fixture: "tree", arguments: ["ids"], poke: { signalDescendants(of: $0.pid, SIGTERM) })
        s.checkpointArguments = ["--tree"]
        s.restartArguments = ["--restore-pgid", "--restore-sid"]
        s.settle = 400_000
        try s.run(.unprivilegedNamespace)
    }

    /// A pipe shared by parent and child with unread bytes, and an enlarged
    /// non-blocking pipe: both come back with their contents and connections.
    static let pipes: Scenario = {
        var s = Scenario(fixture: "pipes", poke: { signalDescendants(of: $0.pid, SIGTERM) })
        s.checkpointArguments = []
        s.settle = 300_000
        return s
    }()

    /// MAP_SHARED anonymous memory stays shared between parent and child.
    static let sharedMemory: Scenario = {
        var s = Scenario(fixture: "shmem", poke: { signalDescendants(of: $0.pid, SIGTERM) })
        s.checkpointArguments = []
        s.settle = 300_000
        return s
    }()

    func testSharedMemoryAsRoot() throws { try Self.sharedMemory.run(.rootOriginalPID) }
    func testSharedMemoryUnprivileged() throws { try Self.sharedMemory.run(.unprivilegedNewPID) }

    /// Pages a parent and its forked children still share copy-on-write stay one
    /// physical page after restart (seeded regions, writes, drops, split mappings).
    func testCopyOnWriteSharingAsRootAndUnprivileged() throws {
        var s = Scenario(fixture: "cowshare", arguments: ["\(TestEnvironment.seed(for: "cowshare"))"], poke: { signalDescendants(of: $0.pid, SIGTERM) })
        s.checkpointArguments = ["--tree"]
        s.settle = 300_000
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    func testEventSignalTimerFDsAsRoot() throws { try Scenario(fixture: "anonfds").run(.rootOriginalPID) }
    func testEventSignalTimerFDsUnprivileged() throws { try Scenario(fixture: "anonfds").run(.unprivilegedNewPID) }

    func testTimersAsRoot() throws { try Scenario(fixture: "timers").run(.rootOriginalPID) }
    func testTimersUnprivileged() throws { try Scenario(fixture: "timers").run(.unprivilegedNewPID) }
    /// More pipes than a user's pipe buffer allowance: the user's checkpoint
    /// copies each one's bytes through a small pipe (seeded contents).
    func testPipesPastTheUsersAllowanceAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "manypipes", arguments: ["\(TestEnvironment.seed(for: "manypipes"))"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// A named semaphore's creator maps it under glibc's temporary name, now
    /// deleted: it comes back as the file its child opened by name.
    func testNamedSemaphoreStaysSharedAsRootAndUnprivileged() throws {
        var s = Scenario(fixture: "namedsem")
        s.checkpointArguments = ["--tree"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// A thread on a small stack inside a larger mapping, the program's data
    /// right below it (Go's threads and goroutines): the checkpoint writes
    /// nothing below its stack pointer, neither in the image nor in the
    /// running process (checked after a checkpoint without --kill too).
    func testDataBelowASmallStackIsLeftAloneAsRootAndUnprivileged() throws {
        try Scenario(fixture: "stackedge").run(.rootOriginalPID)
        try Scenario(fixture: "stackedge").run(.unprivilegedNewPID)
        let env = try TestEnvironment.get()
        let work = env.workDir("stackedge-runs-on", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/stackedge"], user: nil, cwd: work)
        usleep(200_000)
        let r = runTool(["\(env.bin)/cr_checkpoint", "-f", "\(work)/ctx", "\(pid)"], cwd: work)
        XCTAssertEqual(r.code, 0, r.output)
        kill(pid, SIGTERM)
        let out = target.readToEnd(timeout: 20)
        XCTAssertTrue(out.contains("PASS") && !out.contains("FAIL"), out)
    }

    /// A SIGRTMAX handler without libcr (Go's runtime catches every signal)
    /// is not sent the libcr request: the program's own handler never runs.
    func testOwnHandlerOfCRSignumIsNoAgentAsRootAndUnprivileged() throws {
        try Scenario(fixture: "ownrtsignal").run(.rootOriginalPID)
        try Scenario(fixture: "ownrtsignal").run(.unprivilegedNewPID)
    }
    /// A periodic alarm caught expired with its SIGALRM pending (blocked, or
    /// frozen at its expiry: the kernel re-arms it when the signal is taken)
    /// keeps its interval: once unblocked it goes on firing.
    func testExpiredAlarmKeepsItsIntervalAsRootAndUnprivileged() throws {
        try Scenario(fixture: "alarmpending").run(.rootOriginalPID)
        try Scenario(fixture: "alarmpending").run(.unprivilegedNewPID)
    }

    func testLocksAsRoot() throws { try Scenario(fixture: "locks", arguments: ["@"]).run(.rootOriginalPID) }
    func testLocksUnprivileged() throws { try Scenario(fixture: "locks", arguments: ["@"]).run(.unprivilegedNewPID) }

    func testSocketsAsRoot() throws { try Scenario(fixture: "sockets", arguments: ["@"]).run(.rootOriginalPID) }
    func testSocketsUnprivileged() throws { try Scenario(fixture: "sockets", arguments: ["@"]).run(.unprivilegedNewPID) }
    func testSocketsInNamespaceUnprivileged() throws { try Scenario(fixture: "sockets", arguments: ["@"]).run(.unprivilegedNamespace) }
    /// Files in flight (SCM_RIGHTS) in datagram, stream and seqpacket queues: a seeded mix of kinds and counts per message.
    func testDescriptorsInFlightAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "inflight", arguments: ["@", "\(TestEnvironment.seed(for: "inflight"))"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// AIO contexts: same ID, size, head and tail, unreaped events kept; a seeded
    /// ring and seed 20, whose tail has wrapped behind its head.
    func testAIORingsAsRootAndUnprivileged() throws {
        for seed in [TestEnvironment.seed(for: "aioring"), 20] {
            let s = Scenario(fixture: "aioring", arguments: ["@", "\(seed)"])
            try s.run(.rootOriginalPID)
            try s.run(.unprivilegedNewPID)
        }
    }
    /// Packet sockets (root): a seeded mix of types, protocols, bindings, options,
    /// memberships, mapped rings and fanout groups.
    func testPacketSocketsAsRoot() throws {
        guard geteuid() == 0 else { throw XCTSkip("packet sockets need CAP_NET_RAW") }
        try Scenario(fixture: "packets", arguments: ["\(TestEnvironment.seed(for: "packets"))"]).run(.rootOriginalPID)
    }
    /// An unlinked file mapped MAP_SHARED by parent and child stays one shared,
    /// unlinked file (issue 14 D12). The parent waits for its child by PID:
    /// original PIDs (as root, or as a user in a namespace of its own).
    func testUnlinkedSharedFileStaysSharedAsRootAndInNamespace() throws {
        var s = Scenario(fixture: "sharedunlinked", arguments: ["@"])
        s.checkpointArguments = ["--tree"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNamespace)
    }
    /// Unlinked files with holes (one of 1 GiB): the same extents and data; the seed sets the layout.
    func testUnlinkedFilesWithHolesAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "holes", arguments: ["@", "\(TestEnvironment.seed(for: "holes"))"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// Symlinks held through O_PATH (one removed) and, as root, device nodes (one removed).
    func testNodesHeldOpenAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "nodes", arguments: ["@"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// pidfds of a child, of a reaped child and of itself; a pipe whose writer is gone.
    func testPidFDsAsRootAndUnprivileged() throws {
        var s = Scenario(fixture: "pidfds")
        s.checkpointArguments = ["--tree"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
        // A pidfd and its dup (one open file) of a process outside the tree that
        // is gone at restart: both come back closed, and the restart goes on.
        s.arguments = ["@"]
        s.betweenRuns = { work in
            guard let text = try? String(contentsOfFile: work + "/outside", encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                return XCTFail("no outside process")
            }
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)  // an orphan of ours: we are the subreaper
        }
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// A shared mapping made writable later, a private mapping of a removed file, namespace descriptors.
    func testMappedFilesAndNamespaceFDsAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "mapfiles", arguments: ["@"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// Capability sets (bounding, ambient too) and the fsuid, exactly as root; a user's empty sets stay empty.
    func testCapabilitiesAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "caps")
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// A child sharing the fd table (CLONE_FILES); a removed working directory also held by a descriptor.
    func testSharedFDTableAsRootAndUnprivileged() throws {
        var s = Scenario(fixture: "sharedtable", arguments: ["@"])
        s.checkpointArguments = ["--tree"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// A pseudo-terminal: bytes waiting both ways, settings, size, node mode, a child's controlling terminal on its stdio (the tree's own, not the caller's); a hung-up one.
    func testPseudoTerminalsAsRoot() throws {
        var s = Scenario(fixture: "ptys")
        s.checkpointArguments = ["--tree"]
        s.restartArguments = ["--restore-pgid", "--restore-sid"]
        try s.run(.rootOriginalPID)
    }
    /// A pseudo-terminal whose index another terminal holds at restart comes
    /// back at a free one: its slave, the child's stdio and controlling
    /// terminal go there, never to the other terminal by the old name.
    func testPseudoTerminalTakenAtRestartComesBackElsewhereAsRoot() throws {
        let holder = HeldTerminal()
        defer { holder.release() }
        var s = Scenario(fixture: "ptys", arguments: ["@/pts-index"])
        s.checkpointArguments = ["--tree"]
        s.restartArguments = ["--restore-pgid", "--restore-sid"]
        s.expectOutput = "is taken by another terminal now: it comes back as /dev/pts/"
        s.betweenRuns = { work in holder.take(indexIn: work + "/pts-index") }
        try s.run(.rootOriginalPID)
        XCTAssertTrue(holder.held, "the test could not take the terminal's index")
    }
    /// Descriptors not made again (a perf event counter, its dup, a child's
    /// inherited copy) keep their numbers, reading as closed: the next open
    /// gets another (Fixtures/heldnumbers.c).
    func testUnrestoredDescriptorsKeepTheirNumbersAsRootAndUnprivileged() throws {
        var s = Scenario(fixture: "heldnumbers")
        s.checkpointArguments = ["--tree"]
        s.expectOutput = "was not saved and is closed"
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// A memfd that is executed: no extra writer after restart, same mode, flags and close-on-exec.
    func testExecutableMemFDAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "memfdexec")
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// A working directory in the /proc directory of a process that is gone.
    func testWorkingDirectoryOfAGoneProcessAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "proccwd")
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// Process groups whose leader is gone: a live member and a zombie stay in them.
    func testGroupsOfAGoneLeaderAsRoot() throws {
        var s = Scenario(fixture: "orphangroup")
        s.checkpointArguments = ["--tree"]
        s.restartArguments = ["--restore-pgid", "--restore-sid"]
        try s.run(.rootOriginalPID)
    }
    /// Sessions whose leader is gone: members forked with CLONE_PARENT, and a
    /// child forked before its parent's setsid, stay in it (a holder at the
    /// session's ID forks them), and no holder is left among the children.
    func testSessionsOfAGoneLeaderAsRoot() throws {
        var s = Scenario(fixture: "orphansession")
        s.checkpointArguments = ["--tree"]
        s.restartArguments = ["--restore-pgid", "--restore-sid"]
        try s.run(.rootOriginalPID)
    }
    /// Session members whose parent is in another session (zdtm session03's
    /// trees): born from a sibling in their session (CLONE_PARENT), from a
    /// zombie leader made early and ended last, a child made before one its
    /// parent's setsid waits for, and zombies that led a session or a group
    /// of their own. Before, the restart failed (EPERM).
    /// (Root only, as the other session fixtures: a user's restart puts the
    /// tree in a PID namespace, where the fixture's /proc is not its own.)
    func testSessionMembersWithAParentElsewhereAsRoot() throws {
        var s = Scenario(fixture: "sessionsiblings")
        s.checkpointArguments = ["--tree"]
        s.restartArguments = ["--restore-pgid", "--restore-sid"]
        s.rejectOutput = "could not be born"
        try s.run(.rootOriginalPID)
    }
    /// A subreaper's orphans in a session none of its children is in: a
    /// holder forked below the subreaper makes them there and the subreaper
    /// inherits them again, one that ran exec and one that still shares
    /// pages with the subreaper (those copied from the restored subreaper,
    /// not inherited from the holder). Before, the second came back in its
    /// parent's session with a warning, and the first before 134b4eae too.
    func testSubreapersOrphansBornInTheirSessionAsRoot() throws {
        var s = Scenario(fixture: "sessionsiblings", arguments: ["unjoinable"])
        s.checkpointArguments = ["--tree"]
        s.restartArguments = ["--restore-pgid", "--restore-sid"]
        s.rejectOutput = "could not be born"
        try s.run(.rootOriginalPID)
    }
    /// A whole PID namespace (its init the tree's root): orphans reparented
    /// to that init, sessions, groups, a zombie, threads and seeded extra
    /// processes come back in a new namespace with the IDs they had in there.
    func testWholePIDNamespaceAsRootAndUnprivileged() throws {
        // Also with a mount namespace holding a /proc of the PID namespace's own (unshare --mount-proc).
        for extra in [[], ["proc"]] {
            var s = Scenario(fixture: "pidns", arguments: ["\(TestEnvironment.seed(for: "pidns"))"] + extra)
            s.checkpointArguments = ["--tree"]
            s.restartArguments = ["--restore-pgid", "--restore-sid"]
            s.newRootPID = true
            s.expectOutput = "its init as PID 1 there"
            try s.run(.rootOriginalPID)
            try s.run(.unprivilegedNamespace)
        }
    }
    /// hugetlb memory (seeded sizes, touched pages and bytes): private and
    /// shared MAP_HUGETLB areas, a MFD_HUGETLB memfd mapped both ways and one
    /// held only by its descriptor, and a child sharing the shared area. They
    /// came back as ordinary pages (and the shared one as a memfd of another
    /// name and device): zdtm maps09, memfd02-hugetlb.
    func testHugetlbMemoryAsRootAndUnprivileged() throws {
        let pool = "/proc/sys/vm/nr_hugepages"
        guard let text = try? String(contentsOfFile: pool, encoding: .utf8), let before = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw XCTSkip("no hugetlb pool here")
        }
        if before < 64 {
            guard (try? "64".write(toFile: pool, atomically: false, encoding: .utf8)) != nil else { throw XCTSkip("cannot reserve huge pages (not root)") }
        }
        defer { if before < 64 { try? "\(before)".write(toFile: pool, atomically: false, encoding: .utf8) } }
        var s = Scenario(fixture: "hugetlb", arguments: ["\(TestEnvironment.seed(for: "hugetlb"))"])
        s.checkpointArguments = ["--tree"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// Memory sealed with mseal (seeded sizes, protections and which areas;
    /// one sealed only in its middle) is sealed again, the rest not: the
    /// seals were lost, so a restarted program's sealed memory took munmap.
    func testSealedMemoryAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "sealed", arguments: ["\(TestEnvironment.seed(for: "sealed"))"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// A time namespace (seeded offsets of days): a tree inside it, and a
    /// process outside whose children are born inside (zdtm's ns flavor).
    /// Their clocks go on across the restart instead of jumping back.
    func testTimeNamespaceAsRootAndUnprivileged() throws {
        let seed = TestEnvironment.seed(for: "timens")
        for place in ["inside", "parent"] {
            var s = Scenario(fixture: "timens", arguments: ["\(seed)", place])
            s.checkpointArguments = ["--tree"]
            try s.run(.rootOriginalPID)
            try s.run(.unprivilegedNamespace)
        }
    }
    /// A seeded fixture's whole tree (its first argument the seed), checkpointed
    /// and restarted as root and, unless `rootOnly`, as a user in the user
    /// namespace the restart makes.
    func treeRoundTrip(_ fixture: String, _ more: [String] = [], rootOnly: Bool = false) throws {
        var s = Scenario(fixture: fixture, arguments: ["\(TestEnvironment.seed(for: fixture))"] + more)
        s.checkpointArguments = ["--tree"]
        try s.run(.rootOriginalPID)
        if !rootOnly { try s.run(.unprivilegedNamespace) }
    }
    /// Mount namespaces: a process and its child each in their own, with
    /// tmpfs mounts of seeded files, binds (read-only, and one filesystem seen
    /// by both namespaces), an unmounted mount, a shared mount, a mapped file
    /// and a file kept open from the parent's namespace (Fixtures/mountns.c).
    func testMountNamespacesAsRootAndUnprivileged() throws { try treeRoundTrip("mountns", ["@"]) }
    /// Mounts no path reaches keep their options: the lower of two stacked
    /// at one mount point, and one covered by a tmpfs made on its parent
    /// directory since (Fixtures/coveredmounts.c). The fixture mounts in the
    /// checkpointer's namespace first; they are unmounted here after.
    func testCoveredMountsKeepTheirOptionsAsRoot() throws {
        let env = try TestEnvironment.get()
        guard env.isRoot else { throw XCTSkip("mounting in the checkpointer's namespace needs root") }
        let work = env.workDir("coveredmounts", user: nil)
        defer {
            for path in ["/stack", "/stack", "/cover/x"] { umount2(work + path, Int32(MNT_DETACH)) }
        }
        var s = Scenario(fixture: "coveredmounts", arguments: ["@"])
        s.rejectOutput = "could not be"
        try s.run(.rootOriginalPID)
    }
    /// Files removed while open on mounts of namespaces of their own: one
    /// with no name left, held through two binds of one tmpfs from two
    /// namespaces, and one still named elsewhere on that tmpfs (zdtm
    /// mntns_link_ghost, mntns_link_remap): the same file, on the tmpfs, for
    /// both processes; as root on its own mount again (Fixtures/ghostmounts.c).
    func testRemovedFilesOnNamespaceMountsAsRootAndUnprivileged() throws { try treeRoundTrip("ghostmounts", ["@"]) }
    /// A user namespace of the tree's own: a child that made one, became
    /// root in it under seeded maps (as root: two ranges far from ours, an
    /// owner of its own, setgroups seeded), dropped a seeded bounding set and
    /// forked a grandchild there (Fixtures/userns.c). After the restart both
    /// are root in one namespace with the same maps, setgroups, owner and
    /// capabilities, and have CAP_SYS_ADMIN over it; outside, their IDs are
    /// the ones outside. They came back in cr_restart's namespace before:
    /// as root with root's IDs and every capability there, as a user not root.
    /// Also root's restart of a user's (the namespace gets the user as owner).
    /// With "owned", network, UTS and IPC namespaces made inside it
    /// (unshare -Urnui) come back inside it, with their host name, loopback,
    /// listener and SysV segment, and its capabilities over them: they came
    /// back belonging to cr_restart's user namespace, and the process in it.
    /// With "mounts", a mount namespace made inside it (unshare -Urm) with a
    /// tmpfs comes back inside it, the tmpfs the process's to unmount (the
    /// process came back in cr_restart's user namespace before). With
    /// "threads", the child's threads come back with their TIDs inside it
    /// (the process came back in cr_restart's before; a user's restart with
    /// the original IDs still leaves it there, and says so).
    func testUserNamespacesAsRootAndUnprivileged() throws {
        for variant in [[], ["owned"], ["mounts"], ["threads"]] {
            var s = Scenario(fixture: "userns", arguments: ["\(TestEnvironment.seed(for: "userns"))"] + variant)
            s.checkpointArguments = ["--tree"]
            s.rejectOutput = "namespace other than the checkpointer's"
            try s.run(.rootOriginalPID)
            try s.run(.unprivilegedNamespace)
            try s.run(.rootForUser)
            // Restarted lazily: the pages come in while the processes run in their namespace.
            s.restartArguments = ["--lazy"]
            try s.run(.rootOriginalPID)
            try s.run(.unprivilegedNamespace)
        }
    }
    /// POSIX message queues: a named one with seeded limits, mode and
    /// messages, through a blocking and a non-blocking descriptor, with an
    /// mq_notify registration, and one removed while open; and the same in
    /// an IPC namespace of the process's own, where the queue comes back
    /// empty (Fixtures/mqueue.c). Both were saved as regular files at "/NAME"
    /// before, which the restart could not open.
    func testMessageQueuesAsRootAndUnprivileged() throws {
        for variant in [[], ["ipcns"]] {
            var s = Scenario(fixture: "mqueue", arguments: ["\(TestEnvironment.seed(for: "mqueue"))"] + variant)
            s.rejectOutput = "could not be made again"
            try s.run(.rootOriginalPID)
            try s.run(.unprivilegedNamespace)
        }
    }
    /// Mount propagation in a namespace of the process's own: peers, slaves
    /// (one of a subdirectory), an unbindable mount, mounts that propagated
    /// when made and one over them; the same groups after the restart, and
    /// mounts and unmounts propagating as before (Fixtures/propagation.c).
    func testMountPropagationAsRootAndUnprivileged() throws { try treeRoundTrip("propagation", ["@"]) }
    /// A container's root: a child's mount namespace whose root is a tmpfs
    /// of its own (pivot_root) with binds in it, read-only or not, with a
    /// proc of its own or none, an overlay of our directories or a bind of one
    /// (Fixtures/pivotroot.c): the same root after the restart, and nothing
    /// the restore lent it left there.
    func testPivotedRootAsRootAndUnprivileged() throws {
        for variant in ["plain", "ro", "proc", "ro+proc", "overlay", "bind"] { try treeRoundTrip("pivotroot", ["@", variant], rootOnly: variant.contains("proc")) }
    }
    /// UTS namespaces: a parent's with seeded host and domain names, a child
    /// sharing it (a rename after the restart reaches it), a child in its own.
    func testUTSNamespacesAsRootAndUnprivileged() throws { try treeRoundTrip("utsns") }
    /// SysV objects of an IPC namespace of the process's own, beside objects
    /// with the same keys in the checkpointer's namespace (Fixtures/ipcns.c).
    func testIPCNamespaceAsRoot() throws { try treeRoundTrip("ipcns", rootOnly: true) }
    /// Sockets in a network namespace of the process's own (loopback up, a
    /// listener on the port a process outside also listens on, UDP, an
    /// abstract UNIX name): made again inside a new namespace (Fixtures/netns.c).
    func testNetworkNamespaceAsRootAndUnprivileged() throws { try treeRoundTrip("netns") }
    /// TUN/TAP devices of a network namespace of the process's own, with
    /// their files: attached, detached queues, an unattached one, persistent
    /// devices no file holds; index, MTU, address and up flag (Fixtures/tundevices.c).
    /// As on most distributions, a user may open /dev/net/tun (this VM's
    /// node is 0600: the test opens it up for its run, then puts it back).
    func testTunDevicesAsRootAndUnprivileged() throws {
        try withTunOpenToUsers { try treeRoundTrip("tundevices") }
    }
    /// Addresses (point-to-point, IPv6, an extra loopback one) and routes
    /// (through a device, by a gateway, another table, a blackhole) of a
    /// network namespace of the process's own, with sockets bound to them
    /// (Fixtures/netaddrs.c: `ip` prints the same before and after).
    /// A user's raw sockets, which the checkpointer cannot make to compare
    /// with, come back without a warning for options no one may set.
    func testAddressesAndRoutesAsRootAndUnprivileged() throws {
        try withTunOpenToUsers {
            var s = Scenario(fixture: "netaddrs", arguments: ["\(TestEnvironment.seed(for: "netaddrs"))"])
            s.checkpointArguments = ["--tree"]
            s.rejectOutput = "not set again"
            try s.run(.rootOriginalPID)
            try s.run(.unprivilegedNamespace)
        }
    }

    /// A container's virtual devices: a veth pair inside its namespace (one
    /// end a bridge's port), a macvlan, a veth pair across to a child's
    /// namespace with a socket at the far end, and as root a veth whose other
    /// end is in the checkpointer's namespace, in a bridge there
    /// (Fixtures/netdevices.c): the same devices, addresses and bridges after.
    func testVirtualNetworkDevicesAsRootAndUnprivileged() throws {
        let seed = TestEnvironment.seed(for: "netdevices")
        // The fixture's helper deletes its bridge outside; one that failed before that may not have.
        defer { _ = runTool(["/usr/sbin/ip", "link", "del", "swb\(seed % 100000)"]) }
        var s = Scenario(fixture: "netdevices", arguments: ["\(seed)"])
        s.checkpointArguments = ["--tree"]
        s.rejectOutput = "not made again"
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNamespace)
    }

    /// A namespace's firewall: iptables (nf_tables) rules with a chain of
    /// their own, ip6tables, iptables-legacy, and a native nftables table
    /// with sets (Fixtures/netfilter.c): the same rules after, and acting.
    func testFirewallRulesAsRootAndUnprivileged() throws {
        var s = Scenario(fixture: "netfilter", arguments: ["\(TestEnvironment.seed(for: "netfilter"))"])
        s.checkpointArguments = ["--tree"]
        s.rejectOutput = "not set again"
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNamespace)
    }

    /// Sockets kept by a process that moved to another network namespace
    /// after making them (Fixtures/netnssocket.c): they stay in theirs.
    func testSocketsOfAnotherNetworkNamespaceAsRootAndUnprivileged() throws { try treeRoundTrip("netnssocket") }

    func withTunOpenToUsers(_ body: () throws -> Void) throws {
        var st = stat()
        guard stat("/dev/net/tun", &st) == 0 else { throw XCTSkip("no /dev/net/tun") }
        let mode = st.st_mode & 0o7777
        if mode & 0o006 != 0o006 { chmod("/dev/net/tun", 0o666) }
        defer { chmod("/dev/net/tun", mode) }
        try body()
    }
    /// Credentials per thread: one thread's own IDs, and no thread root again after the process dropped root.
    func testThreadCredentialsAsRoot() throws {
        var s = Scenario(fixture: "threadcreds")
        s.checkpointArguments = ["--tree"]
        try s.run(.rootOriginalPID)
    }
    /// SIGIO owners and signals (F_SETOWN, F_SETOWN_EX, F_SETSIG, O_ASYNC) and leases.
    func testFileOwnersAndLeasesAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "fown", arguments: ["@"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// Socket files the program changed after bind (mode, moved aside, replaced
    /// by a FIFO) and a connection not yet accepted.
    func testUNIXSocketNamesAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "unixnames", arguments: ["@"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    /// A pipeline inside the tree: a child's stdout pipe to its sibling's stdin stays a pipe.
    static let pipeline: Scenario = {
        var s = Scenario(fixture: "pipeline", poke: { signalDescendants(of: $0.pid, SIGTERM) })
        s.checkpointArguments = ["--tree"]
        return s
    }()
    func testPipelineAsRoot() throws { try Self.pipeline.run(.rootOriginalPID) }
    func testPipelineUnprivileged() throws { try Self.pipeline.run(.unprivilegedNewPID) }

    /// Datagram sockets that are not pairs: a bound server keeps its name and queue, clients reconnect by name.
    func testDatagramSocketsAsRoot() throws { try Scenario(fixture: "dgram", arguments: ["@"]).run(.rootOriginalPID) }
    func testDatagramSocketsUnprivileged() throws { try Scenario(fixture: "dgram", arguments: ["@"]).run(.unprivilegedNewPID) }
    func testDatagramSocketsInNamespaceUnprivileged() throws { try Scenario(fixture: "dgram", arguments: ["@"]).run(.unprivilegedNamespace) }
    /// UDP datagrams received and not read: a seeded number and sizes at an
    /// IPv4 server from a live and a closed sender, IPv4 and IPv6 ones at a
    /// dual-stack server, one at a connected socket; each comes back in
    /// order with its sender's address, as root, as a user and in a user's
    /// namespace; as root also one from a live process outside the image,
    /// which holds its port (a raw socket writes that address into the packet).
    func testQueuedUDPDatagramsAsRootAndUnprivileged() throws {
        let seed = "\(TestEnvironment.seed(for: "udpqueue"))"
        try Scenario(fixture: "udpqueue", arguments: [seed, "outside"]).run(.rootOriginalPID)
        let s = Scenario(fixture: "udpqueue", arguments: [seed])
        try s.run(.unprivilegedNewPID)
        try s.run(.unprivilegedNamespace)
    }

    /// A queued datagram whose sender's name cannot be bound again, refilled
    /// late for the descriptor in flight with it: cr_restart still warns.
    func testDatagramFromAStaleNameIsWarnedOfAsRootAndUnprivileged() throws {
        var s = Scenario(fixture: "dgramstale", arguments: ["@"])
        s.expectOutput = "come from an unnamed socket"
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    func testFIFOsAsRoot() throws { try Scenario(fixture: "fifo", arguments: ["@"]).run(.rootOriginalPID) }
    func testFIFOsUnprivileged() throws { try Scenario(fixture: "fifo", arguments: ["@"]).run(.unprivilegedNewPID) }
    /// Both names of a FIFO removed after the checkpoint: made again, one FIFO under both.
    func testRemovedFIFONamesAreMadeAgainAsRootAndUnprivileged() throws {
        var s = Scenario(fixture: "fifo", arguments: ["@"])
        s.betweenRuns = { work in for name in ["fifo", "fifo-link"] { unlink("\(work)/\(name)") } }
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// Restarted by root, a removed FIFO made again is the user's, with its mode.
    func testFIFOsOfAUserRestartedByRoot() throws { try Scenario(fixture: "fifo", arguments: ["@"]).run(.rootForUser) }

    /// A private view of shared memory (through map_files as root, a memfd as a
    /// user) follows the object until written to, across the restart.
    func testPrivateViewOfSharedMemoryAsRoot() throws {
        try Scenario(fixture: "sharedview", arguments: ["mapfiles"]).run(.rootOriginalPID)
        try Scenario(fixture: "sharedview", arguments: ["mapfiles", "keep"]).run(.rootOriginalPID)
    }
    func testPrivateViewOfSharedMemoryUnprivileged() throws { try Scenario(fixture: "sharedview", arguments: ["memfd"]).run(.unprivilegedNewPID) }

    /// A stopped child that could run on stays stopped until its parent continues it.
    func testStoppedChildStaysStoppedAsRoot() throws {
        var s = Scenario(fixture: "stoppedchild")
        s.checkpointArguments = ["--tree"]
        s.restartEnvironment = ["SWIFTCR_TEST_DETACH_DELAY_MS=200"]
        try s.run(.rootOriginalPID)
    }

    func testStoppedChildStaysStoppedUnprivileged() throws {
        var s = Scenario(fixture: "stoppedchild")
        s.checkpointArguments = ["--tree"]
        s.restartEnvironment = ["SWIFTCR_TEST_DETACH_DELAY_MS=200"]
        try s.run(.unprivilegedNewPID)
    }

    /// A directory removed while open stays an open, removed directory (a FileKind of its own).
    func testDeletedDirectoryAsRoot() throws { try Scenario(fixture: "deleteddir", arguments: ["@"]).run(.rootOriginalPID) }
    func testDeletedDirectoryUnprivileged() throws { try Scenario(fixture: "deleteddir", arguments: ["@"]).run(.unprivilegedNewPID) }

    /// /proc/self/exe names the program again (root, or a user in a namespace of its own).
    func testSelfExeAsRoot() throws { try Scenario(fixture: "selfexe").run(.rootOriginalPID) }
    func testSelfExeInNamespaceUnprivileged() throws { try Scenario(fixture: "selfexe").run(.unprivilegedNamespace) }

    /// A child in seccomp strict mode is in it again (root only: see IntegrityTests for a user).
    func testSeccompStrictModeAsRoot() throws {
        guard geteuid() == 0 else { throw XCTSkip("only root checkpoints a process in strict mode") }
        var s = Scenario(fixture: "strictmode")
        s.checkpointArguments = ["--tree"]
        try s.run(.rootOriginalPID)
    }

    /// Stopped by SIGTSTP (^Z), it is stopped by SIGTSTP again: the parent's waitpid tells which.
    func testChildStoppedByTSTPAsRoot() throws {
        var s = Scenario(fixture: "stoppedchild", arguments: ["tstp"])
        s.checkpointArguments = ["--tree"]
        s.restartArguments = ["--restore-pgid"]
        try s.run(.rootOriginalPID)
    }

    func testChildStoppedByTSTPUnprivileged() throws {
        var s = Scenario(fixture: "stoppedchild", arguments: ["tstp"])
        s.checkpointArguments = ["--tree"]
        s.restartArguments = ["--restore-pgid"]
        try s.run(.unprivilegedNamespace)
    }

    /// A working directory deleted while in use stays deleted, and stays the cwd.
    func testDeletedWorkingDirectoryAsRoot() throws { try Scenario(fixture: "deletedcwd", arguments: ["@"]).run(.rootOriginalPID) }
    func testDeletedWorkingDirectoryUnprivileged() throws { try Scenario(fixture: "deletedcwd", arguments: ["@"]).run(.unprivilegedNewPID) }
    /// A user's removed working directory and removed open directory, restarted
    /// by root: the stand-ins are the user's with the saved modes (r-x only,
    /// and none at all), not root's 0700 the process could not stat "." in.
    func testRemovedDirectoriesOfAUserRestartedByRoot() throws {
        try Scenario(fixture: "deletedcwd", arguments: ["@", "500"]).run(.rootForUser)
        try Scenario(fixture: "deleteddir", arguments: ["@", "0"]).run(.rootForUser)
    }

    /// Seeded descriptor tables (Fixtures/fdlayout.c): kinds, numbers (some
    /// at the top of the open-file limit), flags, queued bytes, counters,
    /// timers, masks, offsets, duplicates and epoll watches drawn from the
    /// seed, each checked by the process after the restart; as root with the
    /// original PIDs and as the test user.
    func testSeededDescriptorTablesAsRootAndUnprivileged() throws {
        let first = TestEnvironment.seed(for: "fdlayout")
        for k in UInt64(0)..<6 {
            let seed = first &+ k
            let mode: Scenario.Mode = k % 2 == 0 ? .rootOriginalPID : .unprivilegedNewPID
            let before = testRun?.failureCount ?? 0
            try Scenario(fixture: "fdlayout", arguments: ["\(seed)", "@"]).run(mode)
            if (testRun?.failureCount ?? 0) > before { XCTFail("fdlayout seed \(seed) failed (\(mode)); rerun all with SWIFTCR_SEED=\(first)") }
        }
    }

    /// Descriptors at the top of a raised open-file limit, as valgrind keeps
    /// its own (seeded numbers): cr_restart's stub had the lower limit the
    /// test starts everything with, so it must raise its own to place them,
    /// and keep its parked descriptors off the process's numbers.
    func testDescriptorsAtTheOpenFileLimitAsRootAndUnprivileged() throws {
        var saved = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &saved)
        var lowered = saved
        lowered.rlim_cur = min(saved.rlim_cur, 512)
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lowered)
        defer { setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &saved) }
        let s = Scenario(fixture: "highfds", arguments: ["\(TestEnvironment.seed(for: "highfds"))"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    /// Each thread's scheduling policy (with reset-on-fork), priority and nice;
    /// as root also a SCHED_DEADLINE thread's seeded reservation and flags
    /// (set once the restorer's one-CPU pin is off: the kernel refuses it before).
    func testSchedulingAsRoot() throws {
        try Scenario(fixture: "sched", arguments: ["rt", "deadline", "\(TestEnvironment.seed(for: "sched"))"]).run(.rootOriginalPID)
    }
    func testSchedulingUnprivileged() throws { try Scenario(fixture: "sched", arguments: ["plain"]).run(.unprivilegedNewPID) }

    /// An mlock()ed mapping is locked again (a user may lock 64 KiB under the default RLIMIT_MEMLOCK).
    func testLockedMappingAsRoot() throws { try Scenario(fixture: "mlocked").run(.rootOriginalPID) }
    func testLockedMappingUnprivileged() throws { try Scenario(fixture: "mlocked").run(.unprivilegedNewPID) }

    /// THP disabled, oom_score_adj, and each thread's timer slack.
    func testProcessAttributesAsRoot() throws { try Scenario(fixture: "procattrs").run(.rootOriginalPID) }
    func testProcessAttributesUnprivileged() throws { try Scenario(fixture: "procattrs").run(.unprivilegedNewPID) }
    /// The child-subreaper flag (a ProcessAttribute, Resources/ProcessAttributes).
    func testChildSubreaperAsRoot() throws { try Scenario(fixture: "subreaper").run(.rootOriginalPID) }
    func testChildSubreaperUnprivileged() throws { try Scenario(fixture: "subreaper").run(.unprivilegedNewPID) }
    /// membarrier registrations (a ProcessAttribute).
    func testMembarrierAsRoot() throws { try Scenario(fixture: "membarrier").run(.rootOriginalPID) }
    func testMembarrierUnprivileged() throws { try Scenario(fixture: "membarrier").run(.unprivilegedNewPID) }
    /// Threads stopped inside an rseq critical section resume at its abort
    /// handler, after a checkpoint that lets them run on (first) and after a
    /// restart: injected calls must not leave a section running unprotected.
    /// Processes without their vDSO (zdtm vdso02): one stopped right after
    /// a system call, one spinning in user code. A checkpoint that let them
    /// run on showed the stopped one outside its call, and the next could
    /// not find a syscall instruction in either (Fixtures/novdso.c).
    func testProcessesWithoutAVDSOAsRootAndUnprivileged() throws {
        let s = Scenario.liveFirst("novdso", bin: try TestEnvironment.get().bin, scope: ["--tree"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNamespace)
    }
    func testRseqCriticalSectionsAbortAsRoot() throws { try Scenario.liveFirst("rseqabort", bin: try TestEnvironment.get().bin).run(.rootOriginalPID) }
    func testRseqCriticalSectionsAbortUnprivileged() throws { try Scenario.liveFirst("rseqabort", bin: try TestEnvironment.get().bin).run(.unprivilegedNewPID) }
    /// Supplementary groups: exactly as root; as a user, the ones it has.
    func testGroupsAsRoot() throws { try Scenario(fixture: "groups").run(.rootOriginalPID) }
    func testGroupsUnprivileged() throws { try Scenario(fixture: "groups").run(.unprivilegedNewPID) }

    func testMemfdAsRoot() throws { try Scenario(fixture: "memfd").run(.rootOriginalPID) }
    func testMemfdUnprivileged() throws { try Scenario(fixture: "memfd").run(.unprivilegedNewPID) }

    /// The keyed objects are removed after the checkpoint, so restart must make them again.
    static func sysv(_ arguments: [String]) -> Scenario {
        var s = Scenario(fixture: "sysvipc", arguments: ["@"] + arguments, poke: { signalDescendants(of: $0.pid, SIGTERM) })
        s.checkpointArguments = []
        s.betweenRuns = { work in
            let ids = ((try? String(contentsOfFile: work + "/ipc-ids", encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            guard ids.count == 3 else { return XCTFail("no ipc-ids from the fixture") }
            XCTAssertEqual(shmctl(ids[0], IPC_RMID, nil), 0)
            XCTAssertEqual(runTool(["/usr/bin/ipcrm", "-s", "\(ids[1])", "-q", "\(ids[2])"]).code, 0)
        }
        return s
    }
    func testSysVIPCAsRoot() throws { try Self.sysv(["same-ids"]).run(.rootOriginalPID) }
    func testSysVIPCUnprivileged() throws { try Self.sysv([]).run(.unprivilegedNewPID) }

    /// Pipes to a process outside the scope become cr_restart's stdin and stdout, as in BLCR.
    static let outsidePipe: Scenario = {
        var s = Scenario(fixture: "outsidepipe", poke: { $0.write("hello\n"); kill($0.pid, SIGTERM) })
        s.expectOutput = "through fd 8"
        return s
    }()
    func testPipesToOutsideBecomeStdioAsRoot() throws { try Self.outsidePipe.run(.rootOriginalPID) }
    func testPipesToOutsideBecomeStdioUnprivileged() throws { try Self.outsidePipe.run(.unprivilegedNewPID) }

    /// Peer credentials of UNIX socket pairs and listeners are the process's
    /// user and groups, also when root restarts another user's process.
    func testUnixPeerCredentialsAreTheProcesssAsRootForUserAndUnprivileged() throws {
        let s = Scenario(fixture: "peercred")
        try s.run(.rootForUser)
        try s.run(.unprivilegedNewPID)
        try s.run(.rootOriginalPID)
    }

    /// Restored TCP, UDP and UNIX sockets belong to the process's user (and
    /// a new SO_REUSEPORT socket of that user joins their ports), also when
    /// root restarts another user's process.
    func testSocketsBelongToTheirProcesssUserAsRootForUserAndUnprivileged() throws {
        let s = Scenario(fixture: "socketowner")
        try s.run(.rootForUser)
        try s.run(.unprivilegedNewPID)
        try s.run(.rootOriginalPID)
    }

    /// UNIX connections to a process outside the scope come back ended by
    /// their peer, at their own numbers (not closed: a new descriptor would
    /// take the number and pass for the old connection).
    static let outsidePeer: Scenario = {
        var s = Scenario(fixture: "outsidepeer")
        s.expectOutput = "its peer is outside the checkpoint; it comes back as a connection its peer has closed"
        return s
    }()
    func testConnectionsToOutsideComeBackEndedAsRoot() throws { try Self.outsidePeer.run(.rootOriginalPID) }
    func testConnectionsToOutsideComeBackEndedUnprivileged() throws { try Self.outsidePeer.run(.unprivilegedNewPID) }

    /// --save-all: the executable and mapped files may be deleted or overwritten before the restart.
    static let saveAll: Scenario = {
        var s = Scenario(fixture: "savefiles", arguments: ["@"])
        s.checkpointArguments = ["-p", "--save-all"]
        s.betweenRuns = { work in
            unlink(work + "/savefiles-copy")
            unlink(work + "/shared.dat")
            XCTAssertEqual(runTool(["/bin/sh", "-c", "echo overwritten > '\(work)/private.dat'; rm -f /dev/shm/swiftcr-savefiles-*"]).code, 0)
        }
        return s
    }()
    func testSaveAllSurvivesChangedFilesAsRoot() throws { try Self.saveAll.run(.rootOriginalPID) }
    func testSaveAllSurvivesChangedFilesUnprivileged() throws { try Self.saveAll.run(.unprivilegedNewPID) }
    /// Restarted by root, the files made again are the user's own with their
    /// modes (the shm object root's 0600 before: the process could not open it).
    func testSaveAllMakesAUsersFilesAgainAsTheirsAsRoot() throws { try Self.saveAll.run(.rootForUser) }

    /// SIGTERM sent to cr_restart the moment the restored process runs (the
    /// test pokes as soon as it sees it untraced; the hook holds cr_restart
    /// there) is forwarded to the process, not fatal to cr_restart: it once
    /// killed cr_restart and the program never heard of it. (As root only:
    /// the test knows the PID to watch only when it is the original one.)
    func testSignalTheMomentItRunsIsForwardedAsRoot() throws {
        var s = Self.files
        s.restartEnvironment = ["SWIFTCR_TEST_DETACH_DELAY_MS=1500"]
        s.verbose = false  // poked once the process runs untraced, not once cr_restart says "restored"
        try s.run(.rootOriginalPID)
    }

    /// A file that grew between checkpoint and restart (a log does) is reopened;
    /// -v names both sizes, a plain restart says nothing about it.
    func testFileSizeChangeIsWarnedAbout() throws {
        var s = Self.files
        s.betweenRuns = { work in XCTAssertEqual(runTool(["/bin/sh", "-c", "printf X >> '\(work)/files.b'"]).code, 0) }
        s.expectOutput = "files.b) was 10 bytes at the checkpoint and is 11 now"
        try s.run(.rootOriginalPID)
        s.verbose = false
        s.expectOutput = nil
        s.rejectOutput = "bytes at the checkpoint"
        try s.run(.rootOriginalPID)
    }

    /// A log deleted while the process was checkpointed: by default the restart
    /// fails and names the way on; --missing-files recreate or devnull go on, with a warning.
    func testMissingFileChoicesAsRootAndUnprivileged() throws {
        for (mode, said) in [("recreate", "was gone; made again empty, at offset 7"), ("devnull", "is gone; it is /dev/null now")] {
            var s = Scenario(fixture: "gonefile", arguments: ["@", mode])
            s.betweenRuns = { work in unlink(work + "/app.log") }
            s.restartArguments = ["--missing-files", mode]
            s.expectOutput = said
            try s.run(.rootOriginalPID)
            try s.run(.unprivilegedNewPID)
        }
        let env = try TestEnvironment.get()
        let work = env.workDir("gonefile-fail", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/gonefile", work, "recreate"], user: nil, cwd: work)
        XCTAssertEqual(runTool(["\(env.bin)/cr_checkpoint", "-p", "--kill", "-f", "\(work)/ctx", "\(pid)"], cwd: work).code, 0)
        _ = target.wait(timeout: 10)
        unlink(work + "/app.log")
        let failed = runTool(["\(env.bin)/cr_restart", "--no-restore-pid", "\(work)/ctx"], cwd: work)
        XCTAssertEqual(failed.code, 2, failed.output)
        XCTAssertTrue(failed.output.contains("--missing-files recreate or devnull"), failed.output)
    }

    /// The fixture's directory moved away after the checkpoint: --relocate points the restart at it.
    static let relocate: Scenario = {
        var s = Scenario(fixture: "relocate", arguments: ["@"])
        s.betweenRuns = { work in XCTAssertEqual(rename(work + "/data", work + "/moved"), 0) }
        s.restartArguments = ["--relocate", "@WORK/data=@WORK/moved"]
        return s
    }()
    func testRelocateFollowsAMovedDirectoryAsRoot() throws { try Self.relocate.run(.rootOriginalPID) }
    func testRelocateFollowsAMovedDirectoryUnprivileged() throws { try Self.relocate.run(.unprivilegedNewPID) }

    /// With a seeded number of watches in a second instance (10 and up:
    /// fdinfo numbers them in hex, and 0xa-0xf were dropped, 0x10 on renumbered).
    /// A third instance's event unread at the checkpoint is named in a
    /// warning, first by a checkpoint that lets the process run on.
    func testInotifyAsRoot() throws {
        let seed = TestEnvironment.seed(for: "inotify")
        try Self.inotify(seed).run(.rootOriginalPID)
    }
    func testInotifyUnprivileged() throws {
        let seed = TestEnvironment.seed(for: "inotify") &+ 1
        try Self.inotify(seed).run(.unprivilegedNewPID)
    }
    static func inotify(_ seed: UInt64) throws -> Scenario {
        .liveFirst("inotify", ["@", "\(seed)"], bin: try TestEnvironment.get().bin, warning: "bytes of inotify events waiting are not saved")
    }

    static let sharedFiles: Scenario = {
        var s = Scenario(fixture: "sharedfiles", arguments: ["@"], poke: { signalDescendants(of: $0.pid, SIGTERM) })
        s.checkpointArguments = []
        return s
    }()
    func testOpenFilesSharedAcrossForkAsRoot() throws { try Self.sharedFiles.run(.rootOriginalPID) }
    func testOpenFilesSharedAcrossForkUnprivileged() throws { try Self.sharedFiles.run(.unprivilegedNewPID) }
    func testOpenFilesSharedAcrossForkInNamespace() throws { try Self.sharedFiles.run(.unprivilegedNamespace) }

    /// Root: the connection itself comes back (TCP_REPAIR). A user without CAP_NET_ADMIN: closed, as in BLCR.
    /// Its port held by the killed original's connection in TIME_WAIT (dropped as root).
    func testListenerBindsAgainPastTimeWaitAsRoot() throws { try Scenario(fixture: "listenagain").run(.rootOriginalPID) }
    func testTCPConnectionRepairedAsRoot() throws { try Scenario(fixture: "tcp", arguments: ["repaired"]).run(.rootOriginalPID) }
    /// Checkpointed first without --kill: the connection left repair mode with its SO_REUSEADDR (zdtm --norst socket-tcp).
    func testTCPConnectionRunsOnAfterACheckpointAsRoot() throws {
        try Scenario.liveFirst("tcp", ["repaired"], bin: try TestEnvironment.get().bin).run(.rootOriginalPID)
    }
    /// An established end whose other end (in the image too) was reset
    /// behind its back learns of it from the reset that answers its window
    /// probe after the restart (zdtm socket-tcp-reseted): fails if the
    /// connection lock is still on when the socket leaves repair mode.
    func testConnectionResetBehindItsBackAsRoot() throws { try Scenario(fixture: "tcpreset").run(.rootOriginalPID) }
    /// A connection whose peer (outside the checkpoint) sends while the
    /// checkpointed end does not exist: the checkpoint's kill leaves the
    /// connection's segments held back (ConnectionLock, nftables) until
    /// the restart has made it again, so the peer's end is not reset and
    /// the restarted end reads what it sent. Fails without the lock (the
    /// kernel resets the peer) and if the restart does not remove it
    /// (nothing arrives).
    func testConnectionHeldBackBetweenCheckpointAndRestartAsRoot() throws {
        var s = Scenario(fixture: "tcppeer", arguments: ["@/peer.pid"])
        s.betweenRuns = { work in
            guard let text = try? String(contentsOfFile: "\(work)/peer.pid", encoding: .utf8), let peer = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                XCTFail("no peer PID in \(work)/peer.pid")
                return
            }
            kill(peer, SIGUSR1)
            usleep(300_000)
        }
        try s.run(.rootOriginalPID)
    }
    /// A user may not repair a connection: its descriptor stays, as a
    /// connection that has ended, so no new descriptor takes its number.
    func testUnsavedTCPConnectionComesBackEndedUnprivileged() throws {
        var s = Scenario(fixture: "tcp", arguments: ["kept"])
        s.expectOutput = "it comes back as a connection that has ended"
        try s.run(.unprivilegedNewPID)
    }
    /// Half-closed connections (their FINs both ways), a FIN behind a full
    /// send queue, ended connections, a reset one with unread bytes, a LAST_ACK end behind a firewall rule
    /// and a listener whose port the killed
    /// original's connections held; the seed varies the queue's size.
    func testTCPConnectionStatesAsRoot() throws {
        let seed = TestEnvironment.seed(for: "tcpstates")
        // The fixture's nftables table goes even when it fails before removing it.
        defer {
            let tables = runTool(["/usr/sbin/nft", "list", "tables"]).output
            for line in tables.split(separator: "\n") where line.contains("swiftcr-tcpstates-") {
                if let name = line.split(separator: " ").last { _ = runTool(["/usr/sbin/nft", "delete", "table", "inet", String(name)]) }
            }
        }
        try Scenario(fixture: "tcpstates", arguments: ["\(seed)"]).run(.rootOriginalPID)
    }
    /// A TCP connect in progress (SYN_SENT: the server's queue is full)
    /// starts again from its port and finishes once the server accepts,
    /// polled without blocking and in a thread blocked in connect().
    func testTCPConnectInProgressAsRoot() throws {
        try Scenario(fixture: "tcpconnecting").run(.rootOriginalPID)
        try Scenario(fixture: "tcpconnecting", arguments: ["blocking"]).run(.rootOriginalPID)
    }
    /// Two processes flooding one connection both ways, then filling each
    /// other's queues, checkpointed as a tree: every byte arrives once after
    /// the restart (both ends were read with the connection silenced,
    /// TCPNetworkLock), over IPv4 and IPv6 (whose V6ONLY is set before the bind).
    func testTCPFloodBetweenTwoProcessesAsRoot() throws {
        let seed = TestEnvironment.seed(for: "tcpflood")
        for family in ["4", "6"] {
            var s = Scenario(fixture: "tcpflood", arguments: ["\(seed)", family])
            s.checkpointArguments = ["--tree"]
            s.settle = 0
            s.rejectOutput = "not set again"
            try s.run(.rootOriginalPID)
        }
    }
    /// A connection checkpointed with its window shut (the receiver had
    /// stopped reading): the sender keeps its window state and segment size,
    /// and every byte arrives once the receiver reads; the seed varies the
    /// receive buffer and the writes.
    func testTCPConnectionWithClosedWindowAsRoot() throws {
        let seed = TestEnvironment.seed(for: "tcpzerowindow")
        try Scenario(fixture: "tcpzerowindow", arguments: ["\(seed)"]).run(.rootOriginalPID)
    }
    /// epoll watches added under numbers closed or reused since: each still
    /// watches its own file under its own number, as root and as a user;
    /// the seed varies how many and which way.
    func testEpollWatchesUnderClosedNumbersAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "epollnumbers", arguments: ["\(TestEnvironment.seed(for: "epollnumbers"))"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// Socket options and the binding rules they set (FREEBIND, REUSEPORT),
    /// as root and as a user; the seed varies the values.
    func testSocketOptionsAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "sockopts", arguments: ["\(TestEnvironment.seed(for: "sockopts"))"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// Netlink sockets: ports (kernel-chosen and chosen), groups past 32, a connected pair.
    func testNetlinkSocketsAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "netlink")
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// fanotify: as root a group with inode, mount and ignored marks; as a user the FID kind;
    /// seeded extra marks in a random order.
    func testFanotifyAsRootAndUnprivileged() throws {
        let s = Scenario(fixture: "fanotify", arguments: ["\(TestEnvironment.seed(for: "fanotify"))"])
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }
    /// cr_restart --tcp-close keeps the descriptors, as sockets whose connection is gone.
    func testTCPConnectionKeptClosedWithTCPClose() throws {
        var s = Scenario(fixture: "tcp", arguments: ["kept"])
        s.restartArguments = ["--tcp-close"]
        try s.run(.rootOriginalPID)
        try s.run(.unprivilegedNewPID)
    }

    func testPipesAsRoot() throws { try Self.pipes.run(.rootOriginalPID) }
    func testPipesUnprivileged() throws { try Self.pipes.run(.unprivilegedNewPID) }
    func testPipesInNamespaceUnprivileged() throws { try Self.pipes.run(.unprivilegedNamespace) }

    /// cr_restart's after-restart options: --term alone must bring the PASS.
    func testRestartTermOptionSignalsTheProcess() throws {
        var s = Scenario(fixture: "memory", arguments: ["@/memory.data"], poke: { _ in })
        s.restartArguments = ["--term"]
        try s.run(.rootOriginalPID)
    }

    /// Threads are created and exit while the process is being frozen: every
    /// checkpoint still succeeds, and the restored process goes on.
    func testThreadsBornDuringFreeze() throws {
        let env = try TestEnvironment.get()
        let work = env.workDir("threadstorm-runs", user: nil)
        let (target, pid) = try Fixture.start(["\(env.bin)/threadstorm"], user: nil, cwd: work)
        for round in 0..<30 {
            let r = runTool(["\(env.bin)/cr_checkpoint", "-p", "--clobber", "-f", "\(work)/ctx", "\(pid)"])
            XCTAssertEqual(r.code, 0, "round \(round): \(r.output)")
        }
        kill(pid, SIGTERM)
        XCTAssertTrue(target.read(until: "PASS"), target.output)
        try Scenario(fixture: "threadstorm").run(.rootOriginalPID)
        try Scenario(fixture: "threadstorm").run(.unprivilegedNewPID)
    }

    func testThreadsWithExactTIDsAsRoot() throws { try Scenario(fixture: "threads", arguments: ["exact"]).run(.rootOriginalPID) }
    func testThreadsWithNewTIDsUnprivileged() throws { try Scenario(fixture: "threads", arguments: ["newtid"]).run(.unprivilegedNewPID) }
}

/// Holds /dev/pts/N of a given N (the lower free ones taken and let go on the way) until released.
final class HeldTerminal: @unchecked Sendable {
    private var fd: Int32 = -1
    var held: Bool { fd >= 0 }

    func take(indexIn file: String) {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
              let want = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        var spare: [Int32] = []
        defer { spare.forEach { close($0) } }
        while true {
            let m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
            var got: UInt32 = 0
            guard m >= 0, ioctl(m, 0x8004_5430, &got) == 0, got <= want else {  // TIOCGPTN
                if m >= 0 { close(m) }
                return
            }
            if got == want { fd = m; return }
            spare.append(m)
        }
    }

    func release() { if fd >= 0 { close(fd); fd = -1 } }
}
