import ArgumentParser
import Checkpoint
import CheckpointImage
import Glibc

/// `swiftcr verify FILE...`: every checksum and invariant; one line per problem.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check images: every checksum and structural invariant.",
        discussion: "Exit status 0 when every image is sound; otherwise 22 (EINVAL) and one line per problem naming the section and byte offset.")
    @Flag(name: [.customShort("q"), .long], help: "Print only problems.") var quiet = false
    @Argument(help: "The image files.") var files: [String]

    func run() throws {
        var damaged = false
        for file in files {
            let problems = ImageVerifier.verify(path: file)
            if problems.isEmpty {
                if !quiet { print("\(file): sound") }
            } else {
                damaged = true
                for p in problems { Output.printErr("\(file): \(p)") }
            }
        }
        if damaged { throw ExitCode(EINVAL) }
    }
}
