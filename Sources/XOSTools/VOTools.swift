import ArgumentParser
import Glibc
import XOS

/// The VO module's tools in one binary (`xos`): xos-ca, xos-ams, xos-ssh
/// and pam_app_conv, chosen by the name it runs as (the installed links) or
/// by its first argument (`xos xos-ca init ...`). They share XOS, X509 and
/// Crypto, which made up most of each tool's size.
public enum VOTools {
    public static let tools = ["xos-ca", "xos-ams", "xos-ssh", "pam_app_conv"]

    public static func main(_ argv: [String] = CommandLine.arguments) -> Never {
        let called = argv.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
        if tools.contains(called) { run(called, Array(argv.dropFirst())) }
        if argv.count > 1, tools.contains(argv[1]) { run(argv[1], Array(argv.dropFirst(2))) }
        let line = "xos: run as one of \(tools.joined(separator: ", ")) (a link to this binary), or name one first: xos xos-ca --help\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        exit(255)
    }

    /// Runs one tool with its arguments; an XOSError is one line and exit 1.
    public static func run(_ tool: String, _ arguments: [String]) -> Never {
        switch tool {
        case "xos-ca": execute(XOSCA.self, tool, arguments)
        case "xos-ams": execute(XOSAMS.self, tool, arguments)
        case "xos-ssh": execute(XOSSSH.self, tool, arguments)
        default: execute(PamAppConv.self, tool, arguments)
        }
    }

    static func execute<C: ParsableCommand>(_ type: C.Type, _ tool: String, _ arguments: [String]) -> Never {
        do {
            var command = try type.parseAsRoot(arguments)
            try command.run()
            exit(0)
        } catch let e as XOSError {
            let line = "\(tool): \(e.description)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            exit(1)
        } catch {
            type.exit(withError: error)
        }
    }
}

/// Runs a program with arguments and waits: its exit status (128+N for signal N).
func runProgram(_ path: String, _ arguments: [String]) throws -> Int32 {
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    let r = posix_spawn(&pid, path, nil, nil, argv, environ)
    guard r == 0 else { throw XOSError("cannot run \(path): \(String(cString: strerror(r)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw XOSError("waiting for \(path): \(String(cString: strerror(errno)))") }
    }
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}
