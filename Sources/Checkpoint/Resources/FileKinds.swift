import CheckpointImage

/// Every kind of open file swiftcr knows, in the order the dump asks them
/// (the first that claims a descriptor takes it; `UnsupportedFiles` takes
/// what is left). Adding a kind: a folder under Resources/, a record in
/// CheckpointImage/Resources if it keeps state, and one line here.
public enum FileKinds {
    static let all: [any FileKind.Type] = [
        InheritedFiles.self,
        SecretMemory.self,  // before RegularFiles, which would open it
        MessageQueues.self,  // before RegularFiles and UnlinkedFiles: regular files of the mqueue filesystem
        RegularFiles.self,
        PtyMasters.self,
        TunFiles.self,  // before Devices: a character device of its own
        Devices.self,
        Pipes.self,
        FIFOs.self,
        MemFDs.self,
        UnlinkedFiles.self,
        DeletedDirectories.self,
        InotifyInstances.self,
        FanotifyGroups.self,
        Sockets.self,
        UnixSockets.self,
        InetSockets.self,
        PacketSockets.self,
        NetlinkSockets.self,
        TCPConnections.self,
        EventFDs.self,
        SignalFDs.self,
        TimerFDs.self,
        EpollInstances.self,
        Nodes.self,
        PidFDs.self,
        NamespaceFiles.self,
        IOURings.self,
        UnsupportedFiles.self,
    ]

    /// The kind that makes descriptors of image kind `kind` again.
    static func restorer(for kind: FileDescriptorState.Kind) -> any FileKind.Type {
        byImageKind[kind] ?? UnsupportedFiles.self
    }

    private static let byImageKind: [FileDescriptorState.Kind: any FileKind.Type] = {
        var table: [FileDescriptorState.Kind: any FileKind.Type] = [:]
        for k in all { for i in k.restores { table[i] = k } }
        return table
    }()

    /// What inspect prints after a descriptor's path (its kind's own words).
    public static func describe(_ f: FileDescriptorState) -> String { restorer(for: f.kind).describe(f) }

    /// The kind that takes a descriptor at checkpoint time.
    static func claimant(of d: OpenDescriptor) -> any FileKind.Type {
        all.first { $0.claims(d) } ?? UnsupportedFiles.self
    }
}
