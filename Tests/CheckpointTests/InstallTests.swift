import Glibc
import XCTest

/// scripts/install.sh, the installed self-test, the user guide's example
/// built against the installed header and library, and uninstall.
final class InstallTests: XCTestCase {
    func testInstallSelfTestExampleAndUninstall() throws {
        let env = try TestEnvironment.get()
        guard env.isRoot else { throw XCTSkip("installs as root") }
        let prefix = "\(env.dir)/prefix"
        let root = TestEnvironment.repoRoot
        let install = runTool(["/bin/bash", "\(root)/scripts/install.sh", "--prefix", prefix, "--from", TestEnvironment.buildDir], timeout: 120)
        XCTAssertEqual(install.code, 0, install.output)
        for f in ["bin/cr_checkpoint", "bin/cr_run", "bin/swiftcr-job", "lib/libcr.so", "lib/libcr_omit.so", "include/libcr.h", "include/blcr_common.h",
                  "lib/pkgconfig/cr.pc", "share/man/man1/cr_restart.1", "share/swiftcr/manifest", "lib/security/pam_xos.so", "bin/xos-ca"] {
            XCTAssertEqual(access("\(prefix)/\(f)", F_OK), 0, "\(f) not installed")
        }
        // One engine binary and one VO binary, stripped; the other names are links to them.
        for (link, target) in [("bin/cr_checkpoint", "swiftcr"), ("bin/cr_restart", "swiftcr"), ("bin/cr_run", "swiftcr"),
                               ("bin/xos-ca", "xos"), ("bin/xos-ams", "xos"), ("bin/pam_app_conv", "xos"), ("lib/libcr.so", "libcr.so.0"),
                               ("lib/libcr_omit.so", "libcr_omit.so.0"), ("lib/libcr_run.so", "libcr_run.so.0")] {
            XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: "\(prefix)/\(link)"), target, "\(link) is not a link to \(target)")
        }
        for binary in ["bin/swiftcr", "bin/xos", "lib/libcr.so.0", "lib/security/pam_xos.so"] {
            let sections = runTool(["/usr/bin/readelf", "-S", "\(prefix)/\(binary)"]).output
            XCTAssertFalse(sections.contains(".symtab") || sections.contains(".debug_info"), "\(binary) is not stripped")
        }
        let selftest = runTool(["\(prefix)/share/swiftcr/selftest.sh", prefix], timeout: 60)
        XCTAssertEqual(selftest.code, 0, selftest.output)
        XCTAssertTrue(selftest.output.contains("selftest: PASS"), selftest.output)

        // One version, from one place: the .pc files say the binary's own.
        let version = runTool(["\(prefix)/bin/swiftcr", "--version"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let pcVersion = runTool(["/usr/bin/env", "PKG_CONFIG_PATH=\(prefix)/lib/pkgconfig", "pkg-config", "--modversion", "cr"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual("swiftcr \(pcVersion)", version, "cr.pc and swiftcr --version disagree")
        XCTAssertTrue(runTool(["\(prefix)/bin/cr_checkpoint", "--version"]).output.contains(version), "cr_checkpoint --version differs from swiftcr's")

        // The user guide's example, built the way the guide says.
        let flags = runTool(["/usr/bin/env", "PKG_CONFIG_PATH=\(prefix)/lib/pkgconfig", "pkg-config", "--cflags", "--libs", "cr"])
        XCTAssertEqual(flags.code, 0, flags.output)
        let example = "\(env.dir)/cr_example"
        let cc = runTool(["/usr/bin/cc", "-Wall", "-o", example, "\(root)/docs/examples/cr_example.c"]
                         + flags.output.split(whereSeparator: { $0.isWhitespace }).map(String.init))
        XCTAssertEqual(cc.code, 0, cc.output)
        let image = "\(env.dir)/example.ctx"
        let original = runTool([example, "self", image])
        XCTAssertEqual(original.code, 0, original.output)
        XCTAssertTrue(original.output.contains("continuing after the checkpoint, counter 42") && original.output.contains("done (original)"), original.output)
        let restarted = runTool(["\(prefix)/bin/cr_restart", "--no-restore-pid", image])
        XCTAssertEqual(restarted.code, 0, restarted.output)
        XCTAssertTrue(restarted.output.contains("restarted from \(image), counter 42") && restarted.output.contains("done (restarted copy)"), restarted.output)

        let uninstall = runTool(["/bin/bash", "\(root)/scripts/install.sh", "--prefix", prefix, "--uninstall"])
        XCTAssertEqual(uninstall.code, 0, uninstall.output)
        for f in ["bin/cr_checkpoint", "lib/libcr.so", "lib/libcr.so.0", "lib/libcr_omit.so.0", "include/libcr.h", "share/swiftcr/manifest", "lib/security/pam_xos.so"] {
            XCTAssertEqual(access("\(prefix)/\(f)", F_OK), -1, "\(f) left behind")
        }
    }

    /// The committed manual pages are what the argument parsers generate now.
    func testManPagesAreUpToDate() throws {
        let env = try TestEnvironment.get()
        let dir = "\(env.dir)/man"
        XCTAssertEqual(runTool(["\(env.bin)/swiftcr", "man-pages", dir]).code, 0)
        for page in ["cr_checkpoint.1", "cr_restart.1", "cr_run.1", "swiftcr.1"] {
            let fresh = runTool(["/bin/cat", "\(dir)/\(page)"]).output
            let committed = runTool(["/bin/cat", "\(TestEnvironment.repoRoot)/docs/man/\(page)"]).output
            XCTAssertEqual(fresh, committed, "docs/man/\(page) is stale: run `swiftcr man-pages docs/man`")
        }
    }

    /// Every option of every command (swiftcr's subcommands included) is in
    /// its manual page, and every page has the sections a man page has.
    func testManPagesNameEveryOption() throws {
        let env = try TestEnvironment.get()
        let root = TestEnvironment.repoRoot
        func options(_ help: String) -> Set<String> {
            var found: Set<String> = []
            for line in help.split(separator: "\n") where line.hasPrefix("  -") {
                let names = line.dropFirst(2).split(separator: " ").prefix { $0.hasPrefix("-") }
                for n in names { found.insert(String(n.filter { $0 != "," })) }
            }
            return found
        }
        let subcommands = runTool(["\(env.bin)/swiftcr", "--help"]).output
            .components(separatedBy: "SUBCOMMANDS:").last?.split(separator: "\n")
            .compactMap { $0.hasPrefix("  ") && !$0.hasPrefix("   ") ? $0.split(separator: " ").first.map(String.init) : nil } ?? []
        XCTAssertTrue(subcommands.contains("inspect") && subcommands.contains("restart"), "\(subcommands)")
        let commands: [(page: String, argv: [String])] = ["cr_checkpoint", "cr_restart", "cr_run"].map { ($0, ["\(env.bin)/\($0)", "--help"]) }
            + [("swiftcr", ["\(env.bin)/swiftcr", "--help"])] + subcommands.map { ("swiftcr", ["\(env.bin)/swiftcr", $0, "--help"]) }
        for (page, argv) in commands {
            let text = runTool(["/bin/cat", "\(root)/docs/man/\(page).1"]).output.replacingOccurrences(of: "\\-", with: "-")
            for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO"] {
                XCTAssertTrue(text.contains(".SH \(section)"), "\(page).1 has no \(section) section")
            }
            let help = runTool(argv).output
            let wanted = options(help)
            XCTAssertFalse(wanted.isEmpty, "no options found in \(argv.joined(separator: " "))")
            for o in wanted { XCTAssertTrue(text.contains(o), "\(page).1 does not name \(o) of \(argv.dropLast().joined(separator: " "))") }
        }
    }
}
