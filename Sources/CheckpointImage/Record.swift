/// The tag-length-value encoding of metadata records (docs/IMAGE-FORMAT.md §4):
/// each field is `u16 tag, u32 length, length bytes`, little endian. Integers
/// are 8 bytes; strings are raw bytes; nested records and lists are fields
/// holding records, repeated. Readers skip tags they do not know, which is how
/// records grow without breaking older readers.
public struct RecordEncoder {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    mutating func header(_ tag: UInt16, _ length: Int) {
        withUnsafeBytes(of: tag.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(length).littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func u64(_ tag: UInt16, _ value: UInt64) {
        header(tag, 8)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func i64(_ tag: UInt16, _ value: Int64) { u64(tag, UInt64(bitPattern: value)) }

    public mutating func raw(_ tag: UInt16, _ value: [UInt8]) {
        header(tag, value.count)
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ tag: UInt16, _ value: String) { raw(tag, Array(value.utf8)) }

    public mutating func u64s(_ tag: UInt16, _ values: [UInt64]) {
        header(tag, values.count * 8)
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    }

    public mutating func record(_ tag: UInt16, _ build: (inout RecordEncoder) -> Void) {
        var inner = RecordEncoder()
        build(&inner)
        raw(tag, inner.bytes)
    }
}

/// Reads a record, checking every length against the bytes that are there.
/// `base` is the record's offset in the file, so errors can say where.
public struct RecordDecoder {
    public let name: String
    let bytes: ArraySlice<UInt8>
    let base: UInt64
    var fields: [(tag: UInt16, range: Range<Int>)] = []

    public init(_ bytes: ArraySlice<UInt8>, name: String, base: UInt64) throws {
        self.name = name
        self.bytes = bytes
        self.base = base
        var i = bytes.startIndex
        while i < bytes.endIndex {
            guard bytes.endIndex - i >= 6 else {
                throw ImageError.malformed(what: "\(name): field header cut short", offset: base + UInt64(i - bytes.startIndex))
            }
            let tag = UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8
            let length = Int(UInt32(bytes[i + 2]) | UInt32(bytes[i + 3]) << 8 | UInt32(bytes[i + 4]) << 16 | UInt32(bytes[i + 5]) << 24)
            let start = i + 6
            guard length <= bytes.endIndex - start else {
                throw ImageError.malformed(what: "\(name): field \(tag) claims \(length) bytes, \(bytes.endIndex - start) left",
                                           offset: base + UInt64(i - bytes.startIndex))
            }
            fields.append((tag, start..<start + length))
            i = start + length
        }
    }

    func offset(of range: Range<Int>) -> UInt64 { base + UInt64(range.lowerBound - bytes.startIndex) }

    func first(_ tag: UInt16) -> Range<Int>? { fields.first { $0.tag == tag }?.range }

    public func has(_ tag: UInt16) -> Bool { first(tag) != nil }

    public func optionalU64(_ tag: UInt16) throws -> UInt64? {
        guard let r = first(tag) else { return nil }
        guard r.count == 8 else { throw ImageError.malformed(what: "\(name): field \(tag) is \(r.count) bytes, not 8", offset: offset(of: r)) }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[r.lowerBound + k]) << (8 * UInt64(k)) }
        return v
    }

    public func u64(_ tag: UInt16, _ what: String) throws -> UInt64 {
        guard let v = try optionalU64(tag) else { throw ImageError.malformed(what: "\(name): missing \(what)", offset: base) }
        return v
    }

    public func u64(_ tag: UInt16, default value: UInt64) throws -> UInt64 { try optionalU64(tag) ?? value }

    public func i64(_ tag: UInt16, _ what: String) throws -> Int64 { Int64(bitPattern: try u64(tag, what)) }
    public func optionalI64(_ tag: UInt16) throws -> Int64? { try optionalU64(tag).map { Int64(bitPattern: $0) } }

    public func i32(_ tag: UInt16, _ what: String) throws -> Int32 {
        let v = try i64(tag, what)
        guard let n = Int32(exactly: v) else { throw ImageError.malformed(what: "\(name): \(what) \(v) out of range", offset: base) }
        return n
    }

    public func raw(_ tag: UInt16) -> [UInt8]? { first(tag).map { Array(bytes[$0]) } }

    public func string(_ tag: UInt16) -> String? { raw(tag).map { String(decoding: $0, as: UTF8.self) } }

    public func u64s(_ tag: UInt16) throws -> [UInt64] {
        guard let r = first(tag) else { return [] }
        return try u64s(in: r, tag: tag)
    }

    /// One field's bytes as a list of u64 (for a tag that repeats).
    func u64s(in r: Range<Int>, tag: UInt16) throws -> [UInt64] {
        guard r.count % 8 == 0 else { throw ImageError.malformed(what: "\(name): field \(tag) is not a list of u64", offset: offset(of: r)) }
        return stride(from: r.lowerBound, to: r.upperBound, by: 8).map { s in
            var v: UInt64 = 0
            for k in 0..<8 { v |= UInt64(bytes[s + k]) << (8 * UInt64(k)) }
            return v
        }
    }

    public func records(_ tag: UInt16, name inner: String) throws -> [RecordDecoder] {
        try fields.filter { $0.tag == tag }.map { try RecordDecoder(bytes[$0.range], name: inner, base: offset(of: $0.range)) }
    }

    public func record(_ tag: UInt16, name inner: String) throws -> RecordDecoder? {
        try records(tag, name: inner).first
    }
}
