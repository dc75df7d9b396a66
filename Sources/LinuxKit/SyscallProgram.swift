/// A list of system calls a stopped thread runs in one go, for a restorer
/// that would otherwise stop and resume it twice per call (thousands of
/// mmap and mprotect calls for a process with thousands of mappings).
/// `code` is a small x86-64 loop placed once in the thread's executable
/// memory; each run writes a table of entries to its memory, points rbx at
/// it and rip at the loop, and lets the thread run (PTRACE_CONT) until the
/// loop's int3. An entry is 64 bytes: the call number (bit 63 set: its
/// failure does not stop the list), six arguments, and the slot its result
/// is written to. The list ends at number -1, or after the first call that
/// fails and may not. Only calls whose arguments are values belong here:
/// the entries are all the memory the loop reads. The int3 is a forced
/// SIGTRAP, which the kernel unblocks and sets to its default action: the
/// injector puts the mask back, and lists run only while the thread's
/// actions are still the stub's own defaults (before a restore's signals).
public enum SyscallProgram {
    public static let entrySize = 64
    /// Marks an entry whose failure lets the list go on.
    public static let mayFail: UInt64 = 1 << 63
    /// Result slot value of an entry that did not run.
    public static let notRun = UInt64.max - 0x7FFF

    /// The loop (rbx: the first entry; `as` and objdump agree byte for byte):
    ///
    ///     next: mov rax, [rbx]          48 8b 03
    ///           cmp rax, -1             48 83 f8 ff
    ///           je done                 74 3a
    ///           btr rax, 63             48 0f ba f0 3f
    ///           setc r12b               41 0f 92 c4
    ///           mov rdi, [rbx+8]        48 8b 7b 08
    ///           mov rsi, [rbx+16]       48 8b 73 10
    ///           mov rdx, [rbx+24]       48 8b 53 18
    ///           mov r10, [rbx+32]       4c 8b 53 20
    ///           mov r8, [rbx+40]        4c 8b 43 28
    ///           mov r9, [rbx+48]        4c 8b 4b 30
    ///           syscall                 0f 05
    ///           mov [rbx+56], rax       48 89 43 38
    ///           test r12b, r12b         45 84 e4
    ///           jnz step                75 08
    ///           cmp rax, -4095          48 3d 01 f0 ff ff
    ///           jae done                73 06
    ///     step: add rbx, 64             48 83 c3 40
    ///           jmp next                eb bd
    ///     done: int3                    cc
    public static let code: [UInt8] = [
        0x48, 0x8b, 0x03,
        0x48, 0x83, 0xf8, 0xff,
        0x74, 0x3a,
        0x48, 0x0f, 0xba, 0xf0, 0x3f,
        0x41, 0x0f, 0x92, 0xc4,
        0x48, 0x8b, 0x7b, 0x08,
        0x48, 0x8b, 0x73, 0x10,
        0x48, 0x8b, 0x53, 0x18,
        0x4c, 0x8b, 0x53, 0x20,
        0x4c, 0x8b, 0x43, 0x28,
        0x4c, 0x8b, 0x4b, 0x30,
        0x0f, 0x05,
        0x48, 0x89, 0x43, 0x38,
        0x45, 0x84, 0xe4,
        0x75, 0x08,
        0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff,
        0x73, 0x06,
        0x48, 0x83, 0xc3, 0x40,
        0xeb, 0xbd,
        0xcc,
    ]

    /// Where the loop's int3 is, from its start: the thread stops with rip one past it.
    public static var trapOffset: Int { code.count - 1 }

    /// One call of a list.
    public struct Call: Sendable {
        public let number: Int
        public let arguments: [UInt64]
        public let mayFail: Bool
        public init(_ number: Int, _ arguments: [UInt64], mayFail: Bool = false) {
            self.number = number
            self.arguments = arguments
            self.mayFail = mayFail
        }
    }

    /// The table for `calls`: their entries, then the end mark.
    public static func table(_ calls: [Call]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((calls.count + 1) * entrySize)
        func put(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        for c in calls {
            put(UInt64(c.number) | (c.mayFail ? mayFail : 0))
            for k in 0..<6 { put(k < c.arguments.count ? c.arguments[k] : 0) }
            put(notRun)
        }
        put(UInt64.max)
        for _ in 1..<(entrySize / 8) { put(0) }
        return out
    }

    /// Each entry's result slot from a table read back: nil for one that did not run.
    public static func results(_ table: [UInt8], count: Int) -> [Int64?] {
        (0..<count).map { k in
            let at = k * entrySize + 56
            guard at + 8 <= table.count else { return nil }
            let v = table[at..<(at + 8)].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            return v == notRun ? nil : Int64(bitPattern: v)
        }
    }
}
