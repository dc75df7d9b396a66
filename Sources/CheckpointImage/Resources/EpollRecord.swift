/// epoll: what it watches, re-added once every other descriptor is back.
public struct EpollRecord: DescriptorPayloadRecord {
    public struct Watch: Equatable, Sendable {
        /// The descriptor number it was added under (the epoll key, with the file).
        public var fd: UInt64
        public var events: UInt64
        public var data: UInt64
        /// Where that number was closed or reused since: a descriptor of the
        /// process that holds the watched file (nil: `fd` itself does).
        public var source: UInt64?
        public init(fd: UInt64, events: UInt64, data: UInt64, source: UInt64? = nil) {
            self.fd = fd; self.events = events; self.data = data; self.source = source
        }
    }
    public var watches: [Watch]
    public init(watches: [Watch]) { self.watches = watches }

    enum Tag: UInt16, CaseIterable { case watch = 1, source = 2 }

    func encode(into e: inout RecordEncoder) {
        for w in watches { e.u64s(Tag.watch.rawValue, [w.fd, w.events, w.data]) }
        for (i, w) in watches.enumerated() { if let s = w.source { e.u64s(Tag.source.rawValue, [UInt64(i), s]) } }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        watches = try d.fields.filter { $0.tag == Tag.watch.rawValue }.map { f in
            let v = try RecordDecoder.u64List(d, f.range, count: 3, what: "epoll watch")
            return Watch(fd: v[0], events: v[1], data: v[2])
        }
        for f in d.fields where f.tag == Tag.source.rawValue {
            let v = try RecordDecoder.u64List(d, f.range, count: 2, what: "epoll watch source")
            guard v[0] < UInt64(watches.count) else {
                throw ImageError.malformed(what: "epoll fd \(fd): a watch source for watch \(v[0]) of \(watches.count)", offset: d.base)
            }
            watches[Int(v[0])].source = v[1]
        }
    }

    init(legacy: LegacyDescriptorFields, fd: Int32) throws {
        let v = legacy.values
        guard v.count % 3 == 0 else {
            throw ImageError.malformed(what: "epoll fd \(fd) has \(v.count) values, not triples", offset: legacy.base)
        }
        watches = stride(from: 0, to: v.count, by: 3).map { Watch(fd: v[$0], events: v[$0 + 1], data: v[$0 + 2]) }
    }
}
