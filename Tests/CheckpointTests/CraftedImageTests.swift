import CheckpointImage
import Glibc
import XCTest

/// Images made by hand with a duplicate or an overlap in them: swiftcr verify
/// names the problem, and cr_restart refuses them with one line and EINVAL,
/// from a file and from a pipe (which it cannot verify ahead), never trapping.
final class CraftedImageTests: XCTestCase {
    var env: TestEnvironment!

    override func setUpWithError() throws { env = try TestEnvironment.get() }

    /// A real image of a small fixture, decoded, changed by `change`, written again.
    func crafted(_ name: String, in work: String, from source: String, _ change: (inout ProcessState) -> Void) throws -> String {
        let fd = open(source, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        let image = try LoadedImage.load(fd: fd)
        guard var process = image.processes.first else { throw TestFailure("no process in \(source)") }
        change(&process)
        let path = "\(work)/\(name)"
        unlink(path)
        let out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(out) }
        let writer = try ImageWriter(fd: out)
        try writer.write(image.inventory)
        try writer.write(process)
        try writer.finish()
        return path
    }

    func testDuplicatesAndOverlapsAreRefusedWithoutACrash() throws {
        let work = env.workDir("crafted", user: nil)
        let (source, _) = try Fixture.image(of: ["\(env.bin)/threads"], in: work, bin: env.bin)
        let cases: [(String, String, (inout ProcessState) -> Void)] = [
            ("dup-thread", "appears twice", { p in p.threads.append(p.threads[p.threads.count - 1]) }),
            ("dup-signal", "has two actions", { p in p.signalActions.append(p.signalActions[0]) }),
            ("bad-signal", "signal 65", { p in p.signalActions[0].signal = 65 }),
            ("dup-fd", "descriptor", { p in p.files.append(p.files[0]) }),
            ("overlap", "overlap", { p in
                var m = p.mappings[0]
                m.start += 4096
                m.end += 4096
                p.mappings.append(m)
            }),
        ]
        for (name, message, change) in cases {
            let path = try crafted(name, in: work, from: source, change)
            let verify = runTool(["\(env.bin)/swiftcr", "verify", path])
            XCTAssertNotEqual(verify.code, 0, "\(name): verify passed it")
            XCTAssertTrue(verify.output.contains(message), "\(name): \(verify.output)")
            let restart = runTool(["\(env.bin)/cr_restart", path])
            XCTAssertEqual(restart.code, EINVAL, "\(name): \(restart.output)")
            XCTAssertTrue(restart.output.contains(message), "\(name): \(restart.output)")
            XCTAssertEqual(restart.output.split(separator: "\n").count, 1, "\(name): not one line: \(restart.output)")
            // Through a pipe nothing is verified ahead: the records are still checked before use.
            let piped = runTool(["/bin/sh", "-c", "cat '\(path)' | '\(env.bin)/cr_restart' -F 0"])
            XCTAssertEqual(piped.code, EINVAL, "\(name) through a pipe: \(piped.output)")
            XCTAssertTrue(piped.output.contains(message), "\(name) through a pipe: \(piped.output)")
        }
    }
}
