import ArgumentParser
import Checkpoint
import Glibc

/// `swiftcr check`: which kernel features work for this user, like `criu check`.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Probe the kernel features checkpoint/restart needs, as this user.")

    func run() throws {
        print("swiftcr check: kernel \(MachineInfo.kernelRelease), uid \(getuid())")
        let results = KernelProbe.run()
        for r in results {
            let mark = r.ok ? "ok  " : (r.required ? "FAIL" : "no  ")
            print("\(mark)  \(r.name.padding(46)) \(r.detail)")
        }
        let missing = results.filter { !$0.ok && $0.required }
        if missing.isEmpty {
            print("checkpoint and restart can work here" + (results.contains { !$0.ok } ? " (optional features missing, see above)" : ""))
        } else {
            print("checkpoint/restart cannot work here: \(missing.map(\.name).joined(separator: ", "))")
            throw ExitCode(1)
        }
    }
}
