import CheckpointImage
import Glibc
import LinuxKit

/// AIO contexts (io_setup). A context's ID is the address of its ring, a
/// shared mapping (`/[aio]`) the kernel reads and writes: the ring is saved
/// as memory (kind 9). At restart its pages wait at that address in a
/// placeholder; then a context with as many events is set up, its tail is
/// brought to the saved one by completed requests (writes of one byte to
/// /dev/null, the only way to move it) and its head set, the saved events
/// copied in, and the ring moved over the placeholder (the kernel follows
/// the move, so the ID is the old one). Requests in progress are not kept.
enum AIORings {
    /// struct aio_ring: id, nr, head, tail, magic, compat/incompat features, header_length; then io_events of 32 bytes.
    static let headerSize: UInt64 = 32, eventSize: UInt64 = 32, magic: UInt32 = 0xa10a10a1

    static func rebuild(_ m: Mapping, in session: RemoteSession) throws {
        let at = "AIO ring at 0x\(String(m.start, radix: 16))"
        let header = try session.memory.read(address: m.start, count: Int(headerSize))
        func word(_ k: Int) -> UInt32 { header.withUnsafeBytes { $0.load(fromByteOffset: 4 * k, as: UInt32.self) } }
        let (nr, head, tail) = (word(1), word(2), word(3))
        guard word(4) == magic, UInt64(nr) == (m.length - headerSize) / eventSize, head < nr, tail < nr, nr >= 2 else {
            throw CheckpointError(EINVAL, "\(at): saved ring is not an AIO ring (nr \(nr), head \(head), tail \(tail))")
        }
        // io_setup(n) makes a ring of at least 2n + 2 events, rounded up to whole pages.
        let ctxAt = try session.put(value: UInt64(0), at: 0)
        try session.call("io_setup for \(at)", NR.io_setup, UInt64((nr - 2) / 2), ctxAt)
        let ctx = try session.get(UInt64.self, at: 0)
        var kept = false
        defer { if !kept { _ = try? session.raw(NR.io_destroy, ctx) } }
        let newNR = try session.memory.read(UInt32.self, at: ctx + 4)
        guard newNR == nr else { throw CheckpointError(EINVAL, "\(at): a new context has \(newNR) events, not \(nr)") }
        if head != 0 || tail != 0 { try advance(ctx, nr: nr, to: (head, tail), in: session, what: at) }
        let events = try session.memory.read(address: m.start + headerSize, count: Int(m.length - headerSize))
        try session.memory.write(address: ctx + headerSize, bytes: events)
        let moved = try session.call("mremap \(at)", NR.mremap, ctx, m.length, m.length, MemoryFlags.mremapFixed | MemoryFlags.mremapMayMove, m.start)
        guard moved == m.start else { throw CheckpointError(EINVAL, "\(at): the new ring went to 0x\(String(moved, radix: 16))") }
        kept = true
    }

    /// Completes requests until the ring's tail is `to.tail`, a full turn
    /// first if the tail had wrapped behind the head (the kernel counts
    /// completed events from both), setting the head as they go.
    private static func advance(_ ctx: UInt64, nr: UInt32, to target: (head: UInt32, tail: UInt32), in session: RemoteSession, what: String) throws {
        let devNull = try session.open("/dev/null", flags: UInt64(O_WRONLY | O_CLOEXEC))
        defer { session.closeQuietly(devNull) }
        // struct iocb (64 bytes): opcode at 16 (IOCB_CMD_PWRITE 1), fd at 20, buf at 24, nbytes at 32.
        var iocb = [UInt8](repeating: 0, count: 64)
        iocb.withUnsafeMutableBytes { b in
            b.storeBytes(of: UInt16(1), toByteOffset: 16, as: UInt16.self)
            b.storeBytes(of: UInt32(devNull), toByteOffset: 20, as: UInt32.self)
            b.storeBytes(of: session.scratch + 128, toByteOffset: 24, as: UInt64.self)
            b.storeBytes(of: UInt64(1), toByteOffset: 32, as: UInt64.self)
        }
        let iocbAt = try session.put(iocb, at: 64)
        let count = Int(target.tail < target.head ? nr + target.tail : target.tail)
        let batch = min(count, Int(nr) - 1, (session.scratchSize - 256) / 8)
        let pointers = try session.put((0..<batch).flatMap { _ in bytes(of: iocbAt) }, at: 256)
        var done = 0, idle = 0
        while done < count {
            let n = try session.raw(NR.io_submit, ctx, UInt64(min(count - done, batch)), pointers)
            guard n >= 0 else { throw CheckpointError(Int32(-n), "\(what): io_submit while bringing the ring to its saved tail") }
            done += Int(n)
            idle = n == 0 ? idle + 1 : 0
            guard idle < 100 else { throw CheckpointError(EAGAIN, "\(what): the new ring takes no more requests at \(done) of \(count)") }
            // Moving the head is what io_getevents does: the slots become free again.
            try session.memory.write(address: ctx + 8, bytes: bytes(of: UInt32(min(done, Int(target.head)))))
        }
    }
}
