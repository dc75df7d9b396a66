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
