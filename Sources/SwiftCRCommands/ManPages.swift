import ArgumentParser
import Checkpoint
import Glibc

/// Hidden: `swiftcr man-pages DIR` writes section-1 manual pages for the
/// tools, generated from their argument parsers (options, help, exit codes).
struct ManPages: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "man-pages", shouldDisplay: false)
    @Argument(help: "Directory for the .1 files.") var directory: String

    static let tools: [(name: String, command: any ParsableCommand.Type, seeAlso: String)] = [
        ("cr_checkpoint", CRCheckpoint.self, "cr_restart(1), cr_run(1), swiftcr(1)"),
        ("cr_restart", CRRestart.self, "cr_checkpoint(1), cr_run(1), swiftcr(1)"),
        ("cr_run", CRRun.self, "cr_checkpoint(1), cr_restart(1)"),
        ("swiftcr", SwiftCR.self, "cr_checkpoint(1), cr_restart(1), cr_run(1)"),
    ]

    func run() throws {
        mkdir(directory, 0o755)
        for t in Self.tools {
            let path = "\(directory)/\(t.name).1"
            let text = Self.page(name: t.name, command: t.command, seeAlso: t.seeAlso)
            guard let f = fopen(path, "w") else { throw CheckpointError(errno: errno, "cannot write \(path)") }
            fputs(text, f)
            fclose(f)
        }
    }

    static func page(name: String, command: any ParsableCommand.Type, seeAlso: String) -> String {
        let abstract = command.configuration.abstract
        let help = command.helpMessage(columns: 78)
        let body = help.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var l = line.map { $0 == "\\" ? "\\e" : String($0) }.joined()
            if l.hasPrefix(".") || l.hasPrefix("'") { l = "\\&" + l }
            return l
        }.joined(separator: "\n")
        return """
        .TH \(name.uppercased()) 1 "2026" "swiftcr 0.1.0" "swiftcr manual"
        .SH NAME
        \(name) \\- \(abstract)
        .SH DESCRIPTION
        .nf
        \(body)
        .fi
        .SH EXIT STATUS
        0 on success; otherwise errno & 0xFF of the failure (ESRCH 3, EPERM 1,
        CR_ETEMPFAIL 50, CR_EPERMFAIL 51, CR_ENOSUPPORT 52); 255 for usage errors.
        .SH SEE ALSO
        \(seeAlso); docs/USER-GUIDE.md and docs/ADMIN.md in the swiftcr sources.

        """
    }
}

