import CheckpointImage

/// The objects the restorer makes once and every stub opens or receives:
/// pipes, unlinked files, sockets and (made earlier, for mappings) shared memory.
struct SharedFileObjects {
    let pipes: PipeFactory
    let unlinked: UnlinkedFileFactory
    let sockets: SocketFactory
    let memory: SharedMemoryFactory

    init(processes: [ProcessState], memory: SharedMemoryFactory) {
        self.memory = memory
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
