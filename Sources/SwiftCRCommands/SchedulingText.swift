import CheckpointImage

/// A thread's saved scheduling, for `inspect` (text and JSON).
enum SchedulingText {
    static func policyName(_ policy: UInt32) -> String {
        switch policy & ~ThreadState.Scheduling.resetOnFork {
        case 0: return "SCHED_OTHER"
        case 1: return "SCHED_FIFO"
        case 2: return "SCHED_RR"
        case 3: return "SCHED_BATCH"
        case 5: return "SCHED_IDLE"
        case 6: return "SCHED_DEADLINE"
        case let other: return "policy \(other)"
        }
    }

    static func describe(_ s: ThreadState.Scheduling) -> String {
        var parts = [policyName(s.policy)]
        if s.isDeadline {
            parts.append("runtime \(s.runtime) ns, deadline \(s.deadline) ns, period \(s.period) ns")
            if s.flags & 0x2 != 0 { parts.append("reclaim") }
            if s.flags & 0x4 != 0 { parts.append("overrun signal") }
        } else if s.priority != 0 {
            parts.append("priority \(s.priority)")
        } else {
            parts.append("nice \(s.nice)")
        }
        if s.policy & ThreadState.Scheduling.resetOnFork != 0 { parts.append("reset-on-fork") }
        return parts.joined(separator: ", ")
    }

    static func json(_ s: ThreadState.Scheduling?) -> JSONValue {
        guard let s else { return .null }
        var fields: [(String, JSONValue)] = [("policy", .string(policyName(s.policy))), ("priority", .int(Int64(s.priority))),
                                             ("nice", .int(Int64(s.nice))),
                                             ("resetOnFork", .bool(s.policy & ThreadState.Scheduling.resetOnFork != 0))]
        if s.isDeadline {
            fields += [("runtime", .uint(s.runtime)), ("deadline", .uint(s.deadline)), ("period", .uint(s.period)),
                       ("reclaim", .bool(s.flags & 0x2 != 0)), ("overrunSignal", .bool(s.flags & 0x4 != 0))]
        }
        return .object(fields)
    }
}
