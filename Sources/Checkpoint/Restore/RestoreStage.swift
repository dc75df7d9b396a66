/// The stages of one process's restore, in the order they run. The order
/// is the rules written on each case; `ProcessRestore` runs them as listed
/// (the tree-wide steps between them are in `Restorer.restore`).
enum RestoreStage: Int, CaseIterable, Comparable {
    /// The CPU must save the same xsave components as the image's, or the
    /// FPU state cannot go back: checked before anything is changed.
    case checkCPU
    /// A page of our own code (the sigreturn/syscall trampoline) goes in
    /// before the stub's memory is dropped: injected calls need an
    /// instruction to run from while nothing else is mapped.
    case trampoline
    /// The stub's rseq area is unregistered before its memory goes (a
    /// registered area that is unmapped makes every later resume fault), then
    /// everything of the stub's is unmapped.
    case clearStub
    /// The kernel's vDSO and vvar are moved to where the image had them,
    /// before the image's mappings take their place.
    case placeVDSO
    /// Every mapping made writable at its address (file, shared, SysV).
    case mappings
    /// Tree-wide: PAGES streamed into every stub (PageStream).
    case pages
    /// After the pages: final protections (a write to a read-only page fails),
    /// guard pages (installing one discards what lies under it), then the mm
    /// fields (PR_SET_MM_MAP checks them against the mappings now there).
    case finishMappings
    /// Descriptors at their numbers; before the environment, because chdir
    /// and chroot could make the paths they open resolve elsewhere.
    case files
    /// cwd, root, umask, limits, personality, name, THP, oom_score_adj.
    case environment
    /// Handlers, then pending signals queued again; SIGCHLD raised by
    /// recreating zombie children dropped first (the process had it already).
    case signals
    /// Other threads cloned from the main one: after the handlers, which they share.
    case threads
    /// Per thread: mask kept full, sigaltstack, pending thread signals, rseq
    /// registered (now that its memory is back), robust list, clear_child_tid, timer slack.
    case threadState
    /// POSIX and interval timers: after the threads, which thread-directed timers name.
    case timers
    /// Policy, priority and nice, set from outside before the credentials
    /// drop, so only the restorer's privileges count.
    case scheduling
    /// Credentials last of the ordinary calls: once dropped, later calls
    /// could be refused. In a stub seized with seccomp suspended (root),
    /// the seccomp filters go in just before them, while the stub still has
    /// the privilege the original may have had when it installed them.
    /// Then each thread's parent-death signal, which a change of ID clears.
    case credentials
    /// Seccomp filters are the last injected calls: a filter may forbid
    /// the very calls the restore still makes. Strict mode would forbid them
    /// all, so it is entered only in a stub seized with seccomp suspended (root).
    case seccomp
    /// The trampoline unmaps itself; the thread is then at that call's exit
    /// stop, never back in it.
    case dropTrampoline
    /// Final registers per thread with the kernel's syscall restart rules
    /// applied to what is pending now, then the FPU state and the real mask.
    case registers

    static func < (a: RestoreStage, b: RestoreStage) -> Bool { a.rawValue < b.rawValue }

    /// The stages `ProcessRestore.prepare` runs before the pages go in.
    static let beforePages: [RestoreStage] = allCases.filter { $0 < .pages }
    /// The stages `ProcessRestore.finish` runs after them.
    static let afterPages: [RestoreStage] = allCases.filter { $0 > .pages }
}
