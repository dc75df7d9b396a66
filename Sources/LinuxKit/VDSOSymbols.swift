/// The functions a vDSO exports: name, offset from the mapping's start, and
/// size, read from the ELF image the kernel maps ([vdso] is a whole shared
/// object, section headers included). A restart on a kernel with another
/// vDSO needs them to send the image's cached entry points to the new code.
/// Every offset and count is checked against the bytes: bad input throws.
public struct VDSOSymbols: Equatable {
    public struct Function: Equatable {
        public var offset: UInt64
        public var size: UInt64
    }

    public private(set) var functions: [String: Function] = [:]

    public struct Malformed: Error, CustomStringConvertible {
        public let what: String
        public var description: String { "not a vDSO image: \(what)" }
    }

    public init(parsing bytes: [UInt8]) throws {
        func fail(_ what: String) -> Malformed { Malformed(what: what) }
        func u16(_ at: Int) throws -> UInt64 {
            guard at >= 0, at + 2 <= bytes.count else { throw fail("a field at \(at) lies past the end (\(bytes.count) bytes)") }
            return UInt64(bytes[at]) | UInt64(bytes[at + 1]) << 8
        }
        func u32(_ at: Int) throws -> UInt64 { let low = try u16(at), high = try u16(at + 2); return low | high << 16 }
        func u64(_ at: Int) throws -> UInt64 { let low = try u32(at), high = try u32(at + 4); return low | high << 32 }
        /// An offset and count from the file as an in-range Int.
        func index(_ value: UInt64, _ what: String) throws -> Int {
            guard value <= UInt64(bytes.count) else { throw fail("\(what) \(value) lies past the end (\(bytes.count) bytes)") }
            return Int(value)
        }

        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else { throw fail("no ELF header") }
        guard bytes[4] == 2, bytes[5] == 1 else { throw fail("not a little-endian 64-bit ELF") }
        // Symbol values are link-time addresses: the first PT_LOAD says where offset 0 was linked.
        let phoff = try index(try u64(32), "program header offset"), phentsize = Int(try u16(54)), phnum = Int(try u16(56))
        guard phentsize >= 56 else { throw fail("program header entries of \(phentsize) bytes") }
        var linkBase: UInt64?
        for k in 0..<phnum {
            let at = phoff + k * phentsize
            if try u32(at) == 1 {  // PT_LOAD
                let offset = try u64(at + 8), vaddr = try u64(at + 16)
                guard vaddr >= offset else { throw fail("a PT_LOAD below its file offset") }
                linkBase = vaddr - offset
                break
            }
        }
        guard let base = linkBase else { throw fail("no PT_LOAD") }
        let shoff = try index(try u64(40), "section header offset"), shentsize = Int(try u16(58)), shnum = Int(try u16(60))
        guard shentsize >= 64 else { throw fail("section header entries of \(shentsize) bytes") }
        func section(_ k: Int) throws -> (type: UInt64, offset: Int, size: Int, link: Int, entsize: Int) {
            guard k < shnum else { throw fail("section \(k) of \(shnum)") }
            let at = shoff + k * shentsize
            let offset = try index(try u64(at + 24), "section offset"), size = try index(try u64(at + 32), "section size")
            guard offset + size <= bytes.count else { throw fail("section \(k) runs past the end") }
            return (try u32(at + 4), offset, size, Int(try u32(at + 40)), Int(try u64(at + 56) & 0xffff))
        }
        var found: (type: UInt64, offset: Int, size: Int, link: Int, entsize: Int)?
        for k in 0..<shnum where found == nil {
            let s = try section(k)
            if s.type == 11 { found = s }  // SHT_DYNSYM
        }
        guard let dynsym = found else { throw fail("no .dynsym") }
        guard dynsym.entsize >= 24 else { throw fail(".dynsym entries of \(dynsym.entsize) bytes") }
        let strtab = try section(dynsym.link)
        for k in 0..<(dynsym.size / dynsym.entsize) {
            let at = dynsym.offset + k * dynsym.entsize
            let nameOffset = Int(try u32(at)), info = bytes[at + 4], sectionIndex = try u16(at + 6)
            let value = try u64(at + 8), size = try u64(at + 16)
            // Defined functions only (STT_FUNC, not SHN_UNDEF).
            guard info & 0xf == 2, sectionIndex != 0 else { continue }
            guard nameOffset < strtab.size else { throw fail("symbol \(k)'s name lies outside .dynstr") }
            var end = strtab.offset + nameOffset
            while end < strtab.offset + strtab.size && bytes[end] != 0 { end += 1 }
            let name = String(decoding: bytes[(strtab.offset + nameOffset)..<end], as: UTF8.self)
            guard value >= base, value - base < UInt64(bytes.count), size <= UInt64(bytes.count) - (value - base) else {
                throw fail("function \(name) lies outside the image")
            }
            functions[name] = Function(offset: value - base, size: size)
        }
        guard !functions.isEmpty else { throw fail("no functions") }
    }
}
