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
