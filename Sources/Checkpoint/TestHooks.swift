import Glibc
import Synchronization

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

/// Test hook: SWIFTCR_TEST_CHECKPOINT_PAUSE=STAGE:MS holds a checkpoint at
/// STAGE ("scoped": the processes found, none stopped yet; "injection": threads parked, masks blocked, registers changed;
/// "dump": everything collected, TCP sockets read, memory next; "released":
/// the image committed and the processes let go, as a busy machine may
/// delay what comes after), announced
/// on stderr, so a test can kill the checkpointer there.
func testHookCheckpointPause(_ stage: String) {
    guard let value = getenv("SWIFTCR_TEST_CHECKPOINT_PAUSE") else { return }
    let parts = String(cString: value).split(separator: ":")
    guard parts.count == 2, parts[0] == stage, let ms = UInt32(parts[1]) else { return }
    let line = "swiftcr: test hook: \(stage) paused\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    usleep(ms * 1000)
}

/// Test hook: SWIFTCR_TEST_SCRIBBLE_PAGES=1 changes a batch's first byte after
/// its checksum was taken, as a buffer refilled too early once did, so a test
/// can see the read-back catch it.
func testHookScribble(_ batch: UnsafeMutableRawBufferPointer) {
    guard getenv("SWIFTCR_TEST_SCRIBBLE_PAGES") != nil, !batch.isEmpty else { return }
    batch[0] ^= 0xff
}

/// Test hook: SWIFTCR_TEST_DETACH_DELAY_MS lets a restored process run that
/// long right after it is let go, before the restorer does anything more, as
/// a busy machine may: whatever must happen before it runs must be done by then.
func testHookAfterDetach() {
    guard let value = getenv("SWIFTCR_TEST_DETACH_DELAY_MS"), let ms = UInt32(String(cString: value)) else { return }
    usleep(ms * 1000)
}

/// Test hook: SWIFTCR_TEST_PAGER_END_DELAY_MS holds a lazy restore's pager
/// that long once every page is in, before it lets go, as a busy machine
/// may, doing only `meanwhile` (what the tracer does between events): a
/// thread that unmaps or drops registered memory meanwhile waits inside the
/// call for an event nobody reads, as it would at the worst moment.
func testHookPagerEnd(_ meanwhile: () -> Void) {
    guard let value = getenv("SWIFTCR_TEST_PAGER_END_DELAY_MS"), let ms = Double(String(cString: value)) else { return }
    let end = Clock.now + ms / 1000
    while Clock.now < end {
        meanwhile()
        usleep(1000)
    }
}

/// Test hook: SWIFTCR_TEST_NO_WRITE_TRACKING=1 makes arming write tracking
/// fail as on a kernel without UFFD_FEATURE_WP_ASYNC (before Linux 6.7).
func testHookDenyWriteTracking() throws {
    guard getenv("SWIFTCR_TEST_NO_WRITE_TRACKING") != nil else { return }
    throw CheckpointError(EINVAL, "UFFD_FEATURE_WP_ASYNC refused (test hook)")
}

/// Test hook: SWIFTCR_TEST_SHRINK_IMAGE=1 truncates the image file (through
/// /proc/self/fd, so its owner or root) half way into the page data of the
/// first PAGES section a restart has mapped, as another program rewriting
/// the file would, so a test can see the restart fail in one line instead
/// of dying of SIGBUS when it reads the mapped pages past the new end.
func testHookShrinkImage(_ fd: Int32, to offset: UInt64) {
    guard getenv("SWIFTCR_TEST_SHRINK_IMAGE") != nil, shrinkOnce.withLock({ done in defer { done = true }; return !done }) else { return }
    let writable = open("/proc/self/fd/\(fd)", O_WRONLY | O_CLOEXEC)
    guard writable >= 0 else { return }
    _ = ftruncate(writable, off_t(offset))
    close(writable)
}
private let shrinkOnce = Mutex(false)

/// Test hook: SWIFTCR_TEST_SIGBUS_WHILE_MAPPED=1 sends the restorer a SIGBUS
/// (kill, as a user would) while a mapped window is watched: it must act as
/// SIGBUS always does, not be taken for a fault in the image.
func testHookSignalWhileMapped() {
    guard getenv("SWIFTCR_TEST_SIGBUS_WHILE_MAPPED") != nil, signalOnce.withLock({ done in defer { done = true }; return !done }) else { return }
    kill(getpid(), SIGBUS)
}
private let signalOnce = Mutex(false)

/// Test hook: SWIFTCR_TEST_NO_IMAGE_MAPPING=1 makes mapping the image's page
/// data fail, as on a filesystem without mmap, so a restart reads it instead.
func testHookRefuseMapping() -> Bool {
    getenv("SWIFTCR_TEST_NO_IMAGE_MAPPING") != nil
}
