/// The wire protocol between a checkpointer and libcr's agent
/// (docs/LIBCR-AGENT.md), defined once for both sides: libcr (loaded into
/// other programs, so nothing here allocates) and the engine's
/// AgentRendezvous. Every word is a little-endian u32 or i32.
public enum AgentWire {
    public static let magic: UInt32 = 0x4152_4353  // "SCRA"
    public static let version: UInt32 = 1
    /// CR_SIGNUM: the checkpointer asks a process for its callbacks with it.
    public static let signal: Int32 = 64
    /// The agent connects to "\0" + namePrefix + "<checkpointer pid>-<token>" (SOCK_SEQPACKET).
    public static let namePrefix: StaticString = "swiftcr-agent-"

    /// The agent thread's name (/proc/PID/task/TID/comm) while idle, and while
    /// it serves a checkpoint. A checkpointer sends its CR_SIGNUM to that
    /// thread, which blocks it and takes it from a signalfd: whatever the
    /// application made of CR_SIGNUM's disposition, the request arrives. A
    /// busy agent is answered EBUSY without a signal.
    public static let threadName: StaticString = "cr-agent"
    public static let busyThreadName: StaticString = "cr-agent busy"

    /// The checkpointer's request: magic, version, scope, target, requester,
    /// signal, flags, destination length, then the destination's bytes.
    public enum Request {
        public static let magic = 0, version = 4, scope = 8, target = 12, requester = 16, signal = 20, flags = 24, destinationLength = 28
        public static let headerSize = 32
        /// flags: CR_CHKPT_PROHIBIT_SELF, as the requester gave it.
        public static let prohibitSelf: UInt32 = 1
        /// flags: this checkpointer answers FORWARD at once (older ones take forwards only with READY).
        public static let answersForwards: UInt32 = 0x8000_0000
    }

    /// The agent's reply: magic, kind, value, count of forwarded (scope, pid) pairs, then the pairs.
    public enum Reply: UInt32, Sendable {
        case ready = 1, omit = 2, tempFailure = 3, permFailure = 4
        /// The process is already in the callbacks of another checkpoint (BLCR: EBUSY).
        case busy = 5
        /// Sent on a new connection once the callbacks after a checkpoint have
        /// all returned: the request completes only then (BLCR: CR_OP_HAND_DONE).
        case done = 6
        /// A callback's cr_forward_checkpoint(): one (scope, pid) pair. The
        /// checkpointer answers at once with FORWARD, its value 0 or the
        /// errno the call fails with (BLCR's kernel checks a forward in the
        /// call: EDEADLK, EBUSY, EPERM, ESRCH); accepted ones come with READY.
        case forward = 7
        public static let magic = 0, kind = 4, value = 8, forwardCount = 12, forwards = 16
        public static let headerSize = 16
        /// In READY's count: the agent will say DONE once its callbacks have returned.
        public static let saysDone: UInt32 = 0x8000_0000
        public static let forwardSize = 8
    }

    /// What the checkpointer writes into the agent's result pipe: kind, value,
    /// source length, then the source (the image a restart came from).
    public enum Result: UInt32, Sendable {
        case continuing = 1, restarted = 2, failed = 3
        public static let kind = 0, value = 4, sourceLength = 8
        public static let headerSize = 12
    }
}
