import CLibCR
import Glibc

/// Runs when the library is loaded (C constructor): the memory, the result
/// pipe the checkpointer and restorer write to, and the CR_SIGNUM handler.
/// Loaded as libcr_omit.so (cr_run --omit, -lcr_omit), every request is
/// answered "omit me".
@_cdecl("swiftcr_libcr_loaded")
func libcrLoaded() {
    // Every global the signal handler touches is made now, not lazily inside the handler.
    _ = memory.cells
    _ = (Agent.socket, Agent.exchanged, Agent.lastResult, Forwards.count, Forwards.entries.count, Chain.count, Chain.agentThread, Chain.generationAtStart)
    // And the atfork handler's: a first use in the child would take the
    // runtime's once-lock, which another thread may have held at the fork.
    _ = (Agent.idle, afterForkInChild)
    // The rest made now too, while no other thread of ours runs: a fork while
    // another thread made one would leave it half made in the child.
    _ = (Request.table.count, Request.tableLock, ErrorText.texts.count)
    var fds: [Int32] = [0, 0]
    if cr_pipe2(&fds, O_CLOEXEC) == 0 {
        memory.store(.resultRead, fds[0])
        memory.store(.resultWrite, fds[1])
    }
    if cr_pipe2(&fds, O_CLOEXEC) == 0 {
        memory.store(.wakeRead, fds[0])
        memory.store(.wakeWrite, fds[1])
    }
    memory.store(.pendingTool, -1)
    if omitLibraryLoaded() || getenv("SWIFTCR_LIBCR_OMIT") != nil { memory.store(.omitMode, 1) }
    pthread_atfork(nil, nil, afterForkInChild)
    var action = OwnHandler.action()
    sigaction(LibCR.checkpointSignal, &action, nil)
}

/// A forked child has no agent thread and must not share its parent's
/// pipes: it starts as a process that has not called cr_init() (as BLCR's
/// atfork handler resets its thread state), with pipes of its own. Only
/// system calls and memory made at load: in the child any lock another
/// thread held at the fork (malloc's, the Swift runtime's) stays held.
let afterForkInChild: @convention(c) () -> Void = {
    memory.store(.agentRunning, 0)
    memory.store(.serving, 0)
    memory.store(.status, Agent.idle)
    PendingMark.clear()
    renewPipe(.resultRead, .resultWrite)
    renewPipe(.wakeRead, .wakeWrite)
}

/// A new pipe in place of the one whose ends the cells hold (see afterForkInChild).
func renewPipe(_ read: Cell, _ write: Cell) {
    let fds = memory.forkPipe
    guard cr_pipe2(fds, O_CLOEXEC) == 0 else { return }
    close(memory.load(read))
    close(memory.load(write))
    memory.store(read, fds[0])
    memory.store(write, fds[1])
}

/// libcr_omit.so.0 is in the process (linked with -lcr_omit, or preloaded
/// by `cr_run --omit`): its marker is found first, and not in this library.
/// (libcr.so preloaded by `cr_run --omit` from a build directory is told by
/// SWIFTCR_LIBCR_OMIT instead.)
func omitLibraryLoaded() -> Bool {
    guard let marker = dlsym(nil, "cr_omit_link_me"), let from = cr_loaded_from(marker),
          let own = cr_loaded_from(unsafeBitCast(Agent.handler, to: UnsafeRawPointer.self)) else { return false }
    return strcmp(from, own) != 0
}

/// Where libcr.so was loaded from: cr_checkpoint and cr_restart are looked for next to it.
func libraryDirectory() -> String? {
    guard let name = cr_loaded_from(unsafeBitCast(Agent.handler, to: UnsafeRawPointer.self)) else { return nil }
    let path = String(cString: name)
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return String(path[..<slash])
}
