import CheckpointImage

/// The objects the restorer makes once and every stub opens or receives:
/// pipes, unlinked files and sockets.
struct SharedFileObjects {
    let pipes: PipeFactory
    let unlinked: UnlinkedFileFactory
    let sockets: SocketFactory

    init(processes: [ProcessState]) {
        pipes = PipeFactory(processes: processes)
        unlinked = UnlinkedFileFactory(processes: processes)
        sockets = SocketFactory(processes: processes)
    }

    func close() {
        pipes.close()
        unlinked.close()
        sockets.close()
    }
}
