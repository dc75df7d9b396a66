import CLibCR

import Glibc

/// cr_register_hook(): functions called after a checkpoint, per context and outcome.
enum Hooks {
    enum Event: Int32 {
        case continueSignalContext = 0, continueThreadContext, continueNoCallbacks
        case restartSignalContext, restartThreadContext, restartNoCallbacks
    }

    static func call(_ e: Event) {
        if let hook = memory.hooks[Int(e.rawValue)] { hook(e.rawValue) }
    }
}

/// CR_HOOK_CONT_NO_CALLBACKS and CR_HOOK_RSTRT_NO_CALLBACKS run in each
/// thread that never called cr_init(), in its CR_SIGNUM handler, after the
/// checkpoint (BLCR cr_core.c: its kernel signals every thread, and one
/// without libcr state runs that hook). The agent thread signals those
/// threads once the outcome is known and waits, up to a second, until each
/// has run it. Threads that block CR_SIGNUM are left out: they would run it
/// whenever they unblocked it, perhaps after the application's own handler
/// is back.
enum NoCallbackHooks {
    static let token: Int32 = -2

    static func run(restarted: Bool) {
        let event: Hooks.Event = restarted ? .restartNoCallbacks : .continueNoCallbacks
        guard memory.hooks[Int(event.rawValue)] != nil else { return }
        let me = currentThread()
        let threads = ThreadSignal.threads().filter { $0 != me && !ThreadSignal.blocksCheckpointSignal($0) }
        guard !threads.isEmpty else { return }
        memory.store(.hookEvent, event.rawValue)
        memory.store(.hooksPending, Int32(threads.count))
        let saved = OwnHandler.install()
        defer { OwnHandler.restore(saved) }
        for t in threads where !ThreadSignal.send(to: t, token: token) { memory.add(.hooksPending, -1) }
        let deadline = now() + 1
        while case let left = memory.load(.hooksPending), left > 0, now() < deadline { Futex.wait(.hooksPending, while: left, seconds: 0.05) }
    }

    /// In the signalled thread's handler: no allocation.
    static func runInThisThread() {
        let initialized = (Chain.row(for: currentThread(), create: false)?[1] ?? 0) & 1 != 0
        if !initialized, let event = Hooks.Event(rawValue: memory.load(.hookEvent)) { Hooks.call(event) }
        memory.add(.hooksPending, -1)
        Futex.wake(.hooksPending)
    }
}

/// libcr's CR_SIGNUM handler, put in place for the moment libcr signals its
/// own threads (signal-context callbacks, NO_CALLBACKS hooks) when the
/// application has made the signal its own, and the application's
/// disposition put back right after (BLCR's cr_signal test: a catcher,
/// SIG_IGN or SIG_DFL of the application's does not stop the callbacks).
enum OwnHandler {
    static func action() -> sigaction {
        var a = sigaction()
        a.__sigaction_handler.sa_sigaction = Agent.handler
        a.sa_flags = SA_SIGINFO | SA_RESTART
        sigemptyset(&a.sa_mask)
        return a
    }

    /// The application's disposition if it had replaced ours (ours is now in place), else nil.
    static func install() -> sigaction? {
        var current = sigaction()
        guard sigaction(LibCR.checkpointSignal, nil, &current) == 0 else { return nil }
        let handler = unsafeBitCast(current.__sigaction_handler.sa_sigaction, to: UInt.self)
        guard handler != unsafeBitCast(Agent.handler, to: UInt.self) else { return nil }
        var ours = action()
        guard sigaction(LibCR.checkpointSignal, &ours, nil) == 0 else { return nil }
        return current
    }

    static func restore(_ saved: sigaction?) {
        guard var s = saved else { return }
        sigaction(LibCR.checkpointSignal, &s, nil)
    }
}

/// CR_SIGNUM to one thread of this process, with a token libcr's handler knows.
enum ThreadSignal {
    static func send(to tid: pid_t, token: Int32) -> Bool {
        var info = siginfo_t()
        withUnsafeMutableBytes(of: &info) { raw in
            raw.storeBytes(of: LibCR.checkpointSignal, toByteOffset: 0, as: Int32.self)    // si_signo
            raw.storeBytes(of: Int32(-1), toByteOffset: 8, as: Int32.self)                // si_code = SI_QUEUE
            raw.storeBytes(of: getpid(), toByteOffset: 16, as: Int32.self)                // si_pid
            raw.storeBytes(of: getuid(), toByteOffset: 20, as: UInt32.self)               // si_uid
            raw.storeBytes(of: token, toByteOffset: 24, as: Int32.self)                   // si_value
        }
        return withUnsafeMutablePointer(to: &info) {
            cr_syscall6(Int(SYS_rt_tgsigqueueinfo), Int(getpid()), Int(tid), Int(LibCR.checkpointSignal), Int(bitPattern: UnsafeMutableRawPointer($0)), 0, 0)
        } == 0
    }

    /// This process's threads (agent thread only: it allocates).
    static func threads() -> [pid_t] {
        guard let dir = opendir("/proc/self/task") else { return [] }
        defer { closedir(dir) }
        var found: [pid_t] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let tid = pid_t(name) { found.append(tid) }
        }
        return found
    }

    static func blocksCheckpointSignal(_ tid: pid_t) -> Bool {
        guard let status = readSmallFile("/proc/self/task/\(tid)/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }),
              let mask = UInt64(String(line.dropFirst(7).drop { $0 == " " || $0 == "\t" }), radix: 16) else { return false }
        return mask & (UInt64(1) << UInt64(LibCR.checkpointSignal - 1)) != 0
    }
}
