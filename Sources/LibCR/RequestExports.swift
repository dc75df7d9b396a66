import Glibc

// cr_request_checkpoint and friends: BLCR's request API over the tools.

/// cr_checkpoint_args_t (all 4-byte fields).
struct CheckpointArgs { var version: UInt32; var scope: Int32; var target: Int32; var fd: Int32; var signal: Int32; var timeout: UInt32; var flags: UInt32 }
/// cr_restart_args_t.
struct RestartArgs { var version: UInt32; var fd: Int32; var signal: Int32; var flags: UInt32; var relocate: UnsafeRawPointer? }

private func fail(_ code: Int32) -> Int32 { errno = code; return -1 }
private let destinationCWD: Int32 = -4096

@_cdecl("cr_initialize_checkpoint_args_t")
public func cr_initialize_checkpoint_args_t(_ args: UnsafeMutableRawPointer?) -> Int32 {
    guard let a = args?.assumingMemoryBound(to: CheckpointArgs.self) else { return fail(EINVAL) }
    a.pointee = CheckpointArgs(version: 1, scope: -1, target: 0, fd: -1, signal: 0, timeout: 0, flags: 0)
    return 0
}

/// Whether the requester itself falls in the scope (BLCR's CR_CHKPT_PROHIBIT_SELF).
private func includesSelf(scope: Int32, target: pid_t) -> Bool {
    switch scope {
    case 0: return target == getpid()
    case 1: return getpgrp() == target
    case 2: return getsid(0) == target
    default:
        var p = getpid()
        for _ in 0..<4096 where p > 1 {
            if p == target { return true }
            guard let text = readSmallFile("/proc/\(p)/stat"), let close = text.lastIndex(of: ")") else { return false }
            let fields = text[text.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = pid_t(fields[1]) else { return false }
            p = parent
        }
        return false
    }
}

@_cdecl("cr_request_checkpoint")
public func cr_request_checkpoint(_ args: UnsafeMutableRawPointer?, _ handle: UnsafeMutablePointer<UInt>?) -> Int32 {
    guard let a = args?.assumingMemoryBound(to: CheckpointArgs.self).pointee, let handle else { return fail(EINVAL) }
    guard a.version == 1 else { return fail(2357) }  // CR_EVERSION
    guard (0...3).contains(a.scope), a.target >= 0, a.fd >= 0 || a.fd == destinationCWD else { return fail(EINVAL) }
    let target = a.target != 0 ? a.target : a.scope == 1 ? getpgrp() : a.scope == 2 ? getsid(0) : getpid()
    if a.flags & 1 != 0 && includesSelf(scope: a.scope, target: target) { return fail(EDEADLK) }
    guard kill(a.scope == 0 || a.scope == 3 ? target : getpid(), 0) == 0 || errno != ESRCH else { return fail(ESRCH) }
    var argv = [["-p", "-g", "-s", "-T"][Int(a.scope)]]
    argv += a.fd == destinationCWD ? ["-c"] : ["-F", "\(a.fd)"]
    if a.signal > 0 { argv += ["-S", "\(a.signal)"] }
    if a.timeout > 0 { argv += ["-t", "\(a.timeout)"] }
    let flagOptions: [(UInt32, String)] = [(0x2, "--ptraced-allow"), (0x4, "--ptraced-skip"), (0x8, "--ptracer-skip"),
                                           (0x200, "--save-exe"), (0x400, "--save-private"), (0x800, "--save-shared")]
    argv += flagOptions.filter { a.flags & $0.0 != 0 }.map(\.1)
    if a.flags & 1 != 0 { argv.append("--prohibit-self") }  // held through forwards too
    argv += ["--requester", "\(getpid())", "\(target)"]
    let (h, error) = Request.start(tool: "cr_checkpoint", arguments: argv, keep: a.fd >= 0 ? [a.fd] : [], isRestart: false)
    guard h > 0 else { return fail(error) }
    handle.pointee = UInt(h)
    // BLCR: the caller's own checkpoint is PENDING from here on (cr_status, critical sections).
    if includesSelf(scope: a.scope, target: target), let request = Request.locked({ Request.table[h] }) {
        request.includesCaller = true
        if PendingMark.mark(toolPidfd: request.pidfd) { AgentIdle.waitForOwnCheckpoint() }
    }
    return 0
}

@_cdecl("cr_wait_checkpoint")
public func cr_wait_checkpoint(_ handle: UnsafeMutablePointer<UInt>?, _ timeout: UnsafeMutablePointer<timeval>?) -> Int32 {
    guard let r = Request.find(handle), !r.isRestart else { return fail(EINVAL) }
    return r.wait(timeout)
}

@_cdecl("cr_log_checkpoint")
public func cr_log_checkpoint(_ handle: UnsafeMutablePointer<UInt>?, _ length: UInt32, _ buffer: UnsafeMutablePointer<CChar>?) -> Int32 {
    guard let r = Request.find(handle) else { return fail(EINVAL) }
    r.drain()
    if let buffer, length > 0 {
        let n = min(Int(length) - 1, r.text.count)
        for k in 0..<n { buffer[k] = CChar(bitPattern: r.text[k]) }
        buffer[n] = 0
    }
    return Int32(r.text.count)
}

@_cdecl("cr_reap_checkpoint")
public func cr_reap_checkpoint(_ handle: UnsafeMutablePointer<UInt>?) -> Int32 {
    guard let r = Request.find(handle), !r.isRestart else { return fail(EINVAL) }
    let result = r.reap()
    if !(result < 0 && errno == EAGAIN), let h = handle?.pointee {
        let saved = errno
        r.close()
        _ = Request.locked { Request.table.removeValue(forKey: Int(h)) }
        errno = saved
    }
    return result
}

@_cdecl("cr_poll_checkpoint")
public func cr_poll_checkpoint(_ handle: UnsafeMutablePointer<UInt>?, _ timeout: UnsafeMutablePointer<timeval>?) -> Int32 {
    cr_poll_checkpoint_msg(handle, timeout, nil)
}

@_cdecl("cr_poll_checkpoint_msg")
public func cr_poll_checkpoint_msg(_ handle: UnsafeMutablePointer<UInt>?, _ timeout: UnsafeMutablePointer<timeval>?, _ message: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    guard let r = Request.find(handle) else { return fail(EINVAL) }
    let w = r.wait(timeout)
    if w <= 0 { return w }
    if let message { message.pointee = strdup(String(decoding: r.text, as: UTF8.self)) }
    let result = r.isRestart ? cr_reap_restart(handle) : cr_reap_checkpoint(handle)
    if result > 0 { return r.isRestart ? result : 1 }
    // BLCR (cr_request.c): a failed wait is _PRE, any failed reap (CR_ERESTARTED
    // in the restarted copy included) is CR_POLL_CHKPT_ERR_POST, errno set.
    return -2
}

// MARK: restart requests (experimental in BLCR too)

@_cdecl("cr_initialize_restart_args_t")
public func cr_initialize_restart_args_t(_ args: UnsafeMutableRawPointer?) -> Int32 {
    guard let a = args?.assumingMemoryBound(to: RestartArgs.self) else { return fail(EINVAL) }
    a.pointee = RestartArgs(version: 1, fd: -1, signal: 0, flags: 2, relocate: nil)  // CR_RSTRT_RESTORE_PID
    return 0
}

/// cr_restart --relocate escapes: \\ and \=.
private func escaped(_ s: String) -> String {
    var out = ""
    for c in s {
        if c == "\\" || c == "=" { out.append("\\") }
        out.append(c)
    }
    return out
}

func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = read(fd, &buffer, buffer.count)
    return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
}

@_cdecl("cr_request_restart")
public func cr_request_restart(_ args: UnsafeMutableRawPointer?, _ handle: UnsafeMutablePointer<UInt>?) -> Int32 {
    guard let a = args?.assumingMemoryBound(to: RestartArgs.self).pointee, let handle else { return fail(EINVAL) }
    guard a.version == 1 else { return fail(2357) }
    guard a.fd >= 0 else { return fail(EBADF) }
    // The restored process is the caller's child, as BLCR's (waitpid on the pid cr_poll_restart gives works).
    var argv = ["--verbose", "--parent-is-caller", "-F", "\(a.fd)"]
    if a.signal > 0 { argv += ["-S", "\(a.signal)"] }
    if a.flags & 2 == 0 { argv.append("--no-restore-pid") }
    if a.flags & 4 != 0 { argv.append("--restore-pgid") }
    if a.flags & 8 != 0 { argv.append("--restore-sid") }
    if let relocate = a.relocate {
        let count = Int(relocate.load(as: UInt32.self))
        guard count <= 16 else { return fail(EINVAL) }
        for k in 0..<count {
            guard let old = relocate.load(fromByteOffset: 8 + 16 * k, as: UnsafePointer<CChar>?.self),
                  let new = relocate.load(fromByteOffset: 16 + 16 * k, as: UnsafePointer<CChar>?.self) else { return fail(EINVAL) }
            argv += ["--relocate", escaped(String(cString: old)) + "=" + escaped(String(cString: new))]
        }
    }
    let (h, error) = Request.start(tool: "cr_restart", arguments: argv, keep: [a.fd], isRestart: true)
    guard h > 0 else { return fail(error) }
    handle.pointee = UInt(h)
    return 0
}

@_cdecl("cr_wait_restart")
public func cr_wait_restart(_ handle: UnsafeMutablePointer<UInt>?, _ timeout: UnsafeMutablePointer<timeval>?) -> Int32 {
    guard let r = Request.find(handle), r.isRestart else { return fail(EINVAL) }
    return r.wait(timeout)
}

@_cdecl("cr_log_restart")
public func cr_log_restart(_ handle: UnsafeMutablePointer<UInt>?, _ length: UInt32, _ buffer: UnsafeMutablePointer<CChar>?) -> Int32 {
    cr_log_checkpoint(handle, length, buffer)
}

@_cdecl("cr_reap_restart")
public func cr_reap_restart(_ handle: UnsafeMutablePointer<UInt>?) -> Int32 {
    guard let r = Request.find(handle), r.isRestart else { return fail(EINVAL) }
    return r.reap()
}

@_cdecl("cr_poll_restart")
public func cr_poll_restart(_ handle: UnsafeMutablePointer<UInt>?, _ timeout: UnsafeMutablePointer<timeval>?) -> Int32 {
    cr_poll_checkpoint_msg(handle, timeout, nil)
}

@_cdecl("cr_poll_restart_msg")
public func cr_poll_restart_msg(_ handle: UnsafeMutablePointer<UInt>?, _ timeout: UnsafeMutablePointer<timeval>?, _ message: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    cr_poll_checkpoint_msg(handle, timeout, message)
}

// MARK: BLCR's deprecated blocking requests: checkpoint this process and wait.

private func requestSelf(fd: Int32, file: String?) -> Int32 {
    var a = CheckpointArgs(version: 1, scope: 0, target: 0, fd: fd, signal: 0, timeout: 0, flags: 0)
    var handle: UInt = 0
    let r: Int32
    if let file {
        let out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o400)
        guard out >= 0 else { return -1 }
        defer { close(out) }
        a.fd = out
        r = withUnsafeMutablePointer(to: &a) { cr_request_checkpoint(UnsafeMutableRawPointer($0), &handle) }
    } else {
        r = withUnsafeMutablePointer(to: &a) { cr_request_checkpoint(UnsafeMutableRawPointer($0), &handle) }
    }
    guard r == 0 else { return -1 }
    _ = cr_wait_checkpoint(&handle, nil)
    let reaped = cr_reap_checkpoint(&handle)
    return reaped > 0 || (reaped < 0 && errno == LibCR.eRestarted) ? 0 : -1
}

@_cdecl("cr_request")
public func cr_request() -> Int32 { requestSelf(fd: destinationCWD, file: nil) }

@_cdecl("cr_request_file")
public func cr_request_file(_ name: UnsafePointer<CChar>?) -> Int32 {
    guard let name else { return fail(EINVAL) }
    return requestSelf(fd: -1, file: String(cString: name))
}

@_cdecl("cr_request_fd")
public func cr_request_fd(_ fd: Int32) -> Int32 { requestSelf(fd: fd, file: nil) }
