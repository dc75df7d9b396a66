import Glibc
import XCTest
import LinuxKit

/// Builds the fixtures and gathers the tools in one directory every test user can read.
final class TestEnvironment: @unchecked Sendable {
    let dir: String
    let bin: String
    let user: TestUser?
    let isRoot = getuid() == 0

    nonisolated(unsafe) static var shared: TestEnvironment?
    static let lock = NSLock()

    static func get() throws -> TestEnvironment {
        lock.lock()
        defer { lock.unlock() }
        if let e = shared { return e }
        let e = try TestEnvironment()
        shared = e
        XCTestObservationCenter.shared.addTestObserver(CleanupObserver(dir: e.dir))
        return e
    }

    static var repoRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }

    /// A seed for a randomized fixture: SWIFTCR_SEED if set, else the clock;
    /// printed so a failure can be run again with the same one.
    static func seed(for name: String) -> UInt64 {
        var seed = UInt64(ProcessInfo.processInfo.environment["SWIFTCR_SEED"] ?? "") ?? 0
        if seed == 0 {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            seed = UInt64(ts.tv_nsec / 1000) % 1_000_000 + 1
        }
        print("\(name) seed \(seed) (rerun with SWIFTCR_SEED=\(seed))")
        return seed
    }

    /// Where `swift build` put the executables: next to the test bundle.
    static var buildDir: String {
        if let dir = ProcessInfo.processInfo.environment["SWIFTCR_BIN"] { return dir }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first(where: { $0.hasSuffix(".xctest") }) ?? CommandLine.arguments[0])
        var dir = exe.deletingLastPathComponent()
        if dir.path.hasSuffix(".xctest/Contents/MacOS") { dir = dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
        return dir.path
    }

    private init() throws {
        // Orphans of killed process trees come to us, not to PID 1 (which reaps
        // late here), so their PIDs are free again when a test restores them.
        _ = Syscall.prctl(.setChildSubreaper, 1)
        // The test runner holds descriptors (a socket) that children must not inherit.
        for fd in Int32(3)..<Int32(256) { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var template = Array("/tmp/swiftcr-tests.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp") }
        dir = String(cString: made)
        chmod(dir, 0o755)
        bin = dir + "/bin"
        mkdir(bin, 0o755)
        user = TestUser.ensure()
        // As an installation has them: libcr.so.0 (its SONAME) with libcr.so a link to it.
        for (tool, name) in [("swiftcr", "swiftcr"), ("libcr.so", "libcr.so.0")] {
            let r = runTool(["/bin/cp", "\(Self.buildDir)/\(tool)", "\(bin)/\(name)"])
            guard r.code == 0 else { throw TestFailure("copy \(tool) from \(Self.buildDir): \(r.output) (run `swift build` first)") }
        }
        symlink("libcr.so.0", "\(bin)/libcr.so")
        // As an installation has them: the BLCR tools are links to the one binary.
        for tool in ["cr_checkpoint", "cr_restart", "cr_run"] { symlink("swiftcr", "\(bin)/\(tool)") }
        // The run and omit libraries, built beside libcr as install.sh builds them.
        let variants = runTool(["/bin/bash", Self.repoRoot + "/scripts/libcr-variants.sh", bin])
        guard variants.code == 0 else { throw TestFailure("building libcr_run and libcr_omit: \(variants.output)") }
        let fixtures = Self.repoRoot + "/Fixtures"
        let sources = ((try? FileManager.default.contentsOfDirectory(atPath: fixtures)) ?? []).filter { $0.hasSuffix(".c") }
        guard !sources.isEmpty else { throw TestFailure("no fixtures in \(fixtures)") }
        for name in sources.map({ String($0.dropLast(2)) }) {
            let r = runTool(["/usr/bin/cc", "-O1", "-Wall", "-pthread", "-o", "\(bin)/\(name)", "\(fixtures)/\(name).c"])
            guard r.code == 0 else { throw TestFailure("building fixture \(name): \(r.output)") }
        }
        // BLCR's link-time alternatives to cr_run: -lcr_run -u cr_run_link_me, -lcr_omit -u cr_omit_link_me.
        // Debian's gcc links --as-needed, which drops a library only -u refers to: --no-as-needed keeps it.
        for variant in ["run", "omit"] {
            let r = runTool(["/usr/bin/cc", "-O1", "-o", "\(bin)/busyloop-linked-\(variant)", "\(fixtures)/busyloop.c",
                             "-L", bin, "-Wl,--no-as-needed", "-lcr_\(variant)", "-Wl,-u,cr_\(variant)_link_me", "-Wl,-rpath,\(bin)"])
            guard r.code == 0 else { throw TestFailure("linking busyloop with -lcr_\(variant): \(r.output)") }
        }
        // BLCR-aware fixtures, built against include/libcr.h and linked with -lcr as users would.
        let libcrFixtures = fixtures + "/libcr"
        for file in ((try? FileManager.default.contentsOfDirectory(atPath: libcrFixtures)) ?? []).filter({ $0.hasSuffix(".c") }) {
            let name = String(file.dropLast(2))
            // gcc's default warnings as errors: a header that does not declare what BLCR's does fails here.
            let r = runTool(["/usr/bin/cc", "-O1", "-Wall", "-Werror", "-pthread", "-I", Self.repoRoot + "/include", "-I", fixtures,
                             "-o", "\(bin)/\(name)", "\(libcrFixtures)/\(file)", "-L", bin, "-lcr", "-Wl,-rpath,\(bin)"])
            guard r.code == 0 else { throw TestFailure("building libcr fixture \(name): \(r.output)") }
        }
    }

    /// A fresh working directory owned by the user the scenario runs as.
    func workDir(_ name: String, user: TestUser?) -> String {
        let path = "\(dir)/\(name)-\(user?.name ?? "root")"
        mkdir(path, 0o755)
        if let u = user { chown(path, u.uid, u.gid) }
        return path
    }
}
