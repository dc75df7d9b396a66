import CheckpointImage
import Glibc
import LinuxKit

/// A stopped thread we run system calls in, plus a scratch area in its address
/// space for the calls' pointer arguments.
final class RemoteSession {
    let pid: pid_t
    let injector: SyscallInjector
    let memory: RemoteMemory
    /// Start and size of scratch memory inside the target, or 0 if none yet.
    var scratch: UInt64 = 0
    var scratchSize: Int = 0

    init(pid: pid_t, injector: SyscallInjector) {
        self.pid = pid
        self.injector = injector
        self.memory = RemoteMemory(pid: pid)
    }

    @discardableResult
    func call(_ name: @autoclosure () -> String, _ nr: Int, _ a: UInt64 = 0, _ b: UInt64 = 0, _ c: UInt64 = 0,
              _ d: UInt64 = 0, _ e: UInt64 = 0, _ f: UInt64 = 0) throws -> UInt64 {
        try injector.call(name(), nr, a, b, c, d, e, f)
    }

    func raw(_ nr: Int, _ a: UInt64 = 0, _ b: UInt64 = 0, _ c: UInt64 = 0, _ d: UInt64 = 0, _ e: UInt64 = 0) throws -> Int64 {
        try injector.raw(nr, a, b, c, d, e)
    }

    /// Copies bytes into scratch memory at `offset` and returns their remote address.
    /// Queued calls run first: their table shares the scratch area.
    func put(_ bytes: [UInt8], at offset: Int = 0) throws -> UInt64 {
        guard scratch != 0, offset + bytes.count <= scratchSize else {
            throw CheckpointError(EINVAL, "internal: \(bytes.count) bytes do not fit the scratch area")
        }
        try injector.flush()
        try memory.write(address: scratch + UInt64(offset), bytes: bytes)
        return scratch + UInt64(offset)
    }

    func put<T>(value: T, at offset: Int = 0) throws -> UInt64 {
        try put(withUnsafeBytes(of: value) { Array($0) }, at: offset)
    }

    /// A NUL-terminated path in scratch memory.
    func putString(_ s: String, at offset: Int = 0) throws -> UInt64 {
        try put(Array(s.utf8) + [0], at: offset)
    }

    func get<T>(_ type: T.Type, at offset: Int = 0) throws -> T {
        try injector.flush()
        return try memory.read(T.self, at: scratch + UInt64(offset))
    }
}

extension RemoteSession {
    /// Where the call lists of SyscallProgram go in the scratch area: its upper half.
    static let programTableOffset = 32768

    /// Lets queued calls run as lists: `code` is SyscallProgram.code in the
    /// process, and the scratch area's upper half holds their table (when
    /// the scratch area has one).
    func enableCallLists(code: UInt64) {
        guard scratch != 0, scratchSize >= 2 * Self.programTableOffset else { return }
        let capacity = (scratchSize - Self.programTableOffset) / SyscallProgram.entrySize - 1
        injector.program = (code, scratch + UInt64(Self.programTableOffset), capacity)
    }

    /// Runs what is queued (or drops it, when `body` throws).
    func listing<T>(_ body: () throws -> T) throws -> T {
        do {
            let r = try body()
            try injector.flush()
            return r
        } catch {
            injector.discardQueued()
            throw error
        }
    }
}

/// Bytes of a C struct value.
func bytes<T>(of value: T) -> [UInt8] {
    withUnsafeBytes(of: value) { Array($0) }
}
