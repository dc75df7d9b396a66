import Glibc

/// cr_strerror(): BLCR's texts for its own codes, strerror() for the rest.
enum ErrorText {
    static let texts: [StaticString] = [
        "Temporary error: checkpoint cancelled",
        "Permanent failure: checkpoint cancelled and job killed",
        "Checkpoint support not linked into one or more processes",
        "Requested kernel interface version is not supported",
        "Process omitted from checkpoint at a callback's request",
        "Context file does not match the kernel architecture",
        "One or more target processes is being ptraced",
        "One or more target processes has ptrace children",
        "Restart aborted: restart cancelled and job killed",
        "Request is invalid across a restart",
        "Call is only valid from a checkpoint callback",
        "Calling thread has not called cr_init()",
    ]

    static func text(_ n: Int32) -> UnsafePointer<CChar>? {
        if n > 2353 && n < 2366 {
            return UnsafeRawPointer(texts[Int(n - 2354)].utf8Start).assumingMemoryBound(to: CChar.self)
        }
        return UnsafePointer(strerror(n))
    }
}
