import CheckpointImage

/// A kind whose whole state the kernel prints in /proc/PID/fdinfo (eventfd,
/// signalfd, timerfd, epoll): it claims a descriptor when its fdinfo parses,
/// and saves what parsed as its payload.
protocol FDInfoKind: FileKind {
    associatedtype Record
    static var imageKind: FileDescriptorState.Kind { get }
    /// The record from this descriptor's link and fdinfo, or nil if it is not of this kind.
    static func parse(_ d: OpenDescriptor) -> Record?
    static func payload(_ r: Record) -> DescriptorPayload
}

extension FDInfoKind {
    static var restores: [FileDescriptorState.Kind] { [imageKind] }

    static func claims(_ d: OpenDescriptor) -> Bool { parse(d) != nil }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = imageKind
        state.payload = parse(d).map(payload) ?? .none
    }
}
