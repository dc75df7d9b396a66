import ArgumentParser
import Glibc

/// Hidden: the demo's sample program. It counts once a second, keeping a
/// running checksum in memory, so a restarted copy visibly goes on counting.
struct DemoCounter: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo-counter", shouldDisplay: false)

    func run() throws {
        var count = 0
        var checksum: UInt64 = 0
        let started = getpid()
        while true {
            count += 1
            checksum = checksum &* 31 &+ UInt64(count)
            print("counter: \(count)  checksum \(String(checksum, radix: 16))  pid \(getpid()) (started as \(started))")
            fflush(nil)
            var request = timespec(tv_sec: 1, tv_nsec: 0), remaining = timespec()
            while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
        }
    }
}
