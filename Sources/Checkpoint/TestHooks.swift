import Glibc

/// Test hook: SWIFTCR_TEST_RESTORE_PAUSE_MS holds a restore half way (memory
/// back, nothing else), announced on stderr, so a test can signal the process
/// in the middle of its restore.
func testHookPause() {
    guard let value = getenv("SWIFTCR_TEST_RESTORE_PAUSE_MS"), let ms = UInt32(String(cString: value)) else { return }
    let line = "swiftcr: test hook: restore paused\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    usleep(ms * 1000)
}

/// Test hook: SWIFTCR_TEST_DAMAGE_IMAGE=OFFSET flips one byte of the finished
/// image before cr_checkpoint's own check, as a bad disk or a writer bug would.
func testHookDamageImage(_ path: String) {
    guard let value = getenv("SWIFTCR_TEST_DAMAGE_IMAGE"), let offset = off_t(String(cString: value)) else { return }
    let fd = open(path, O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var byte: UInt8 = 0
    guard pread(fd, &byte, 1, offset) == 1 else { return }
    byte ^= 0xff
    _ = pwrite(fd, &byte, 1, offset)
}

/// Test hook: SWIFTCR_TEST_INJECTION_PAUSE_MS holds a checkpoint while its
/// targets' threads are parked for injection (masks blocked, registers
/// changed), announced on stderr, so a test can kill the checkpointer there.
func testHookInjectionPause() {
    guard let value = getenv("SWIFTCR_TEST_INJECTION_PAUSE_MS"), let ms = UInt32(String(cString: value)) else { return }
    let line = "swiftcr: test hook: injection paused\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    usleep(ms * 1000)
}
