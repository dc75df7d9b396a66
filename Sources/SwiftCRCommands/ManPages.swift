import ArgumentParser
import Checkpoint
import Glibc

/// Hidden: `swiftcr man-pages DIR` writes the section-1 manual pages of the
/// tools: NAME, SYNOPSIS, DESCRIPTION, OPTIONS (and for swiftcr each
/// subcommand with its own), EXIT STATUS, FILES, EXAMPLES, SEE ALSO. The
/// options come from the argument parsers, so a page never lags its tool.
struct ManPages: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "man-pages", shouldDisplay: false)
    @Argument(help: "Directory for the .1 files.") var directory: String

    func run() throws {
        mkdir(directory, 0o755)
        for page in ManualPage.all {
            let path = "\(directory)/\(page.name).1"
            guard let f = fopen(path, "w") else { throw CheckpointError(errno: errno, "cannot write \(path)") }
            fputs(page.render(), f)
            fclose(f)
        }
    }
}

/// One tool's page: what the parser says, plus the parts written by hand.
struct ManualPage {
    let name: String
    let command: any ParsableCommand.Type
    let exitStatus: String
    let files: [(String, String)]
    let examples: [(String, String)]
    let seeAlso: String

    static let blcrExit = "0 on success; otherwise errno & 0xFF of the failure (ESRCH 3, EPERM 1, CR_ETEMPFAIL 50, CR_EPERMFAIL 51, CR_ENOSUPPORT 52, as BLCR's tools); 255 for a usage error."

    static let all: [ManualPage] = [
        ManualPage(name: "cr_checkpoint", command: CRCheckpoint.self, exitStatus: blcrExit,
                   files: [("context.PID", "the context file written by default, in the current directory (-c) or under -d DIR")],
                   examples: [("cr_checkpoint --kill -f job.ctx 4242", "save process 4242 and its descendants to job.ctx, then end them"),
                              ("cr_checkpoint -p --stop 4242", "save process 4242 alone to ./context.4242 and leave it stopped"),
                              ("cr_checkpoint -f - 4242 | ssh host 'cr_restart -F 0'", "move a job to another machine through a pipe")],
                   seeAlso: "cr_restart(1), cr_run(1), swiftcr(1)"),
        ManualPage(name: "cr_restart", command: CRRestart.self, exitStatus: blcrExit + " Once the restored process ends, cr_restart exits as it did (its code, or the signal that ended it).",
                   files: [("FILE", "the context file given, read once from the front (a pipe works: -F FD or -f -)")],
                   examples: [("cr_restart job.ctx", "restart the processes of job.ctx with their original PIDs and wait for them"),
                              ("cr_restart --no-restore-pid --relocate /old=/new job.ctx", "new PIDs, files moved from /old to /new"),
                              ("cr_restart -F 0 < job.ctx", "read the image from standard input (or any pipe)"),
                              ("cr_restart --detach --missing-files recreate job.ctx", "return once the processes run, leaving them behind; a deleted log comes back empty")],
                   seeAlso: "cr_checkpoint(1), cr_run(1), swiftcr(1)"),
        ManualPage(name: "cr_run", command: CRRun.self, exitStatus: "The program's own exit status (cr_run replaces itself with it); 2 if it cannot be run; 255 for a usage error.",
                   files: [("libcr_run.so, libcr_omit.so", "the libcr copies preloaded, found next to the binary or in ../lib")],
                   examples: [("cr_run ./simulation input.dat", "run a program that never linked libcr so its callbacks, if any, run at checkpoints"),
                              ("cr_run --omit ./helper", "run a helper that checkpoints of its tree leave out")],
                   seeAlso: "cr_checkpoint(1), cr_restart(1)"),
        ManualPage(name: "swiftcr", command: SwiftCR.self, exitStatus: "0 on success; verify: 22 (EINVAL) when an image is damaged; diff: 1 when the images differ; demo: 1 when the counter did not go on; checkpoint and restart as cr_checkpoint(1) and cr_restart(1); otherwise errno & 0xFF of the failure; 255 for a usage error.",
                   files: [("cr_checkpoint, cr_restart, cr_run", "links to this binary: it is each of them when run under that name, or as swiftcr cr_restart ...")],
                   examples: [("swiftcr inspect --mappings job.ctx", "what an image holds, mapping by mapping"),
                              ("swiftcr inspect --json job.ctx", "the whole image as JSON (docs/INSPECT-JSON.md)"),
                              ("swiftcr verify job.ctx", "check every checksum without restarting"),
                              ("swiftcr core --pid 4242 -o core.4242 job.ctx", "an ELF core file for gdb"),
                              ("swiftcr check", "what this kernel and user can do")],
                   seeAlso: "cr_checkpoint(1), cr_restart(1), cr_run(1)"),
    ]

    func render() -> String {
        let help = HelpText(command.helpMessage(columns: 78))
        var out = """
        .TH \(name.uppercased()) 1 "2026" "swiftcr \(SwiftCRVersion.number)" "swiftcr manual"
        .SH NAME
        \(name) \\- \(Roff.text(command.configuration.abstract))
        .SH SYNOPSIS
        .B \(Roff.text(help.usage))
        .SH DESCRIPTION
        \(Roff.paragraphs(help.description))

        """
        out += Self.entries("ARGUMENTS", help.arguments) + Self.entries("OPTIONS", help.options)
        let subcommands = command.configuration.subcommands.filter { $0.configuration.shouldDisplay }
        if !subcommands.isEmpty {
            out += ".SH COMMANDS\n"
            for sub in subcommands {
                let h = HelpText(command.helpMessage(for: sub, columns: 78))
                out += ".SS \(Roff.text(sub.configuration.commandName ?? ""))\n.B \(Roff.text(h.usage))\n.PP\n\(Roff.paragraphs(h.description))\n"
                out += Self.entries(nil, h.arguments) + Self.entries(nil, h.options)
            }
        }
        out += ".SH EXIT STATUS\n\(Roff.text(exitStatus))\n.SH FILES\n"
        for (f, what) in files { out += ".TP\n.I \(Roff.text(f))\n\(Roff.text(what))\n" }
        out += ".SH EXAMPLES\n"
        for (command, what) in examples { out += ".TP\n.B \(Roff.text(command))\n\(Roff.text(what))\n" }
        out += ".SH SEE ALSO\n\(seeAlso); docs/USER-GUIDE.md and docs/ADMIN.md in the swiftcr sources.\n"
        return out
    }

    /// A section (or, inside a subcommand, a list) of `.TP` entries.
    static func entries(_ section: String?, _ list: [(String, String)]) -> String {
        guard !list.isEmpty else { return "" }
        var out = section.map { ".SH \($0)\n" } ?? ""
        for (name, text) in list { out += ".TP\n.B \(Roff.text(name))\n\(Roff.text(text))\n" }
        return out
    }
}

/// ArgumentParser's help text taken apart: the overview and discussion,
/// the usage line, and the entries of ARGUMENTS and OPTIONS.
struct HelpText {
    var description: [String] = []
    var usage = ""
    var arguments: [(String, String)] = []
    var options: [(String, String)] = []

    init(_ help: String) {
        var section = ""
        var list: [(String, String)] = []
        func close() {
            if section == "ARGUMENTS" { arguments = list } else if section == "OPTIONS" { options = list }
            list = []
        }
        var paragraph = ""
        for raw in help.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if let colon = line.firstIndex(of: ":"), !line.hasPrefix(" "), line[..<colon].allSatisfy({ $0.isUppercase || $0 == " " }), !line[..<colon].isEmpty {
                close()
                section = String(line[..<colon])
                let rest = line[line.index(after: colon)...].trimmed()
                if section == "OVERVIEW" { paragraph = rest } else if section == "USAGE" { usage = rest }
                continue
            }
            if section == "OVERVIEW" {
                if line.isEmpty {
                    if !paragraph.isEmpty { description.append(paragraph) }
                    paragraph = ""
                } else {
                    paragraph += (paragraph.isEmpty ? "" : " ") + line.trimmed()
                }
                continue
            }
            if section == "ARGUMENTS" || section == "OPTIONS" {
                // "  -f, --file <file>       Text", continuation lines indented past the name column.
                let indent = line.prefix(while: { $0 == " " }).count
                let body = line.trimmed()
                if body.isEmpty { continue }
                if indent == 2 {
                    let parts = body.splitOnce(gap: 2)
                    list.append((parts.0, parts.1))
                } else if var last = list.popLast() {
                    last.1 += (last.1.isEmpty ? "" : " ") + body
                    list.append(last)
                }
            }
        }
        if !paragraph.isEmpty && section == "OVERVIEW" { description.append(paragraph) }
        close()
    }
}

extension String {
    func trimmed() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }

    /// Splits at the first run of at least `gap` spaces: (name, text).
    func splitOnce(gap: Int) -> (String, String) {
        let chars = Array(self)
        var i = 0
        while i < chars.count {
            if chars[i] == " " {
                var j = i
                while j < chars.count && chars[j] == " " { j += 1 }
                if j - i >= gap { return (String(chars[..<i]), String(chars[j...])) }
                i = j
            } else {
                i += 1
            }
        }
        return (self, "")
    }
}

extension Substring {
    func trimmed() -> String { String(self).trimmed() }
}

/// Text made safe for roff: backslashes and leading dots escaped, hyphens as \-.
enum Roff {
    static func text(_ s: String) -> String {
        var out = s.replacingAll("\\", with: "\\e").replacingAll("-", with: "\\-")
        if out.hasPrefix(".") || out.hasPrefix("'") { out = "\\&" + out }
        return out
    }

    static func paragraphs(_ ps: [String]) -> String {
        ps.map(text).joined(separator: "\n.PP\n")
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
