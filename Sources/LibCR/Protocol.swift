
import AgentWire
import Glibc

/// The wire protocol between a checkpointer and libcr (docs/LIBCR-AGENT.md).
/// Everything is little-endian u32/i32; no allocation, so it can run in the
/// signal handler of a program that never called cr_init().
enum AgentProtocol {
    static let magic = AgentWire.magic
    typealias Reply = AgentWire.Reply
    typealias Result = AgentWire.Result

    /// "\0swiftcr-agent-<pid>-<token>" into `buffer`; returns the sockaddr length.
    static func address(_ buffer: UnsafeMutableRawPointer, pid: pid_t, token: Int32) -> socklen_t {
        let out = buffer.assumingMemoryBound(to: UInt8.self)
        out[0] = UInt8(AF_UNIX); out[1] = 0
        var n = 2
        out[n] = 0; n += 1
        AgentWire.namePrefix.withUTF8Buffer { for c in $0 { out[n] = c; n += 1 } }
        n = decimal(Int64(pid), out, n)
        out[n] = UInt8(ascii: "-"); n += 1
        n = decimal(Int64(UInt32(bitPattern: token)), out, n)
        return socklen_t(n)
    }

    static func decimal(_ value: Int64, _ out: UnsafeMutablePointer<UInt8>, _ at: Int) -> Int {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var v = value < 0 ? -value : value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat { d[count] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10; count += 1 } while v > 0 && count < 20
        }
        var n = at
        if value < 0 { out[n] = UInt8(ascii: "-"); n += 1 }
        withUnsafeBytes(of: &digits) { d in for k in stride(from: count - 1, through: 0, by: -1) { out[n] = d[k]; n += 1 } }
        return n
    }

    static func put(_ v: UInt32, _ buffer: UnsafeMutableRawPointer, _ offset: Int) { buffer.storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt32.self) }
    static func get(_ buffer: UnsafeRawPointer, _ offset: Int) -> UInt32 { UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }

    /// Reads exactly `count` bytes, retrying on EINTR (the checkpoint freezes us mid-read).
    static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Bool {
        var done = 0
        while done < count {
            let n = read(fd, buffer + done, count - done)
            if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { return false }
        }
        return true
    }
}
