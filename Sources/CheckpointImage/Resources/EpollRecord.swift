/// epoll: what it watches, re-added once every other descriptor is back.
public struct EpollRecord: DescriptorPayloadRecord {
    public struct Watch: Equatable, Sendable {
        public var fd: UInt64
        public var events: UInt64
        public var data: UInt64
        public init(fd: UInt64, events: UInt64, data: UInt64) { self.fd = fd; self.events = events; self.data = data }
    }
    public var watches: [Watch]
    public init(watches: [Watch]) { self.watches = watches }

    enum Tag: UInt16, CaseIterable { case watch = 1 }

    func encode(into e: inout RecordEncoder) {
        for w in watches { e.u64s(Tag.watch.rawValue, [w.fd, w.events, w.data]) }
    }

    init(decoding d: RecordDecoder, fd: Int32) throws {
        watches = try d.fields.filter { $0.tag == Tag.watch.rawValue }.map { f in
            let v = try RecordDecoder.u64List(d, f.range, count: 3, what: "epoll watch")
            return Watch(fd: v[0], events: v[1], data: v[2])
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
