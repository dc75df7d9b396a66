// libFuzzer target for the image reader and for everything cr_restart does
// before its first fork (built by scripts/fuzz.sh together with
// Sources/CheckpointImage, so no import). Every entry point gets the input as
// a file: the streaming reader with page checksums, the index, the verifier,
// and RestartHeader (records up to the first PAGES, their invariants, path
// relocation, the machine and file checks), then every page section streamed
// to its end as the restorer does. Errors are expected; a crash, trap, hang
// or runaway allocation is a finding.
import CLinux
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func imageReaderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let name: StaticString = "fuzz"
    let fd = Int32(cl_syscall6(319, Int(bitPattern: name.utf8Start), 1, 0, 0, 0, 0))  // memfd_create(MFD_CLOEXEC)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var done = 0
    while done < size {
        let n = write(fd, data + done, size - done)
        if n <= 0 { return 0 }
        done += n
    }
    _ = lseek(fd, 0, SEEK_SET)
    _ = try? LoadedImage.load(fd: fd, verify: true)
    _ = try? ImageIndex.load(fd: fd)
    _ = ImageVerifier.verify(fd: fd)
    restartPreamble(fd)
    return 0
}

/// What cr_restart runs on an image before it forks: as a stream from the
/// start, so nothing was verified ahead.
func restartPreamble(_ fd: Int32) {
    _ = lseek(fd, 0, SEEK_SET)
    guard let reader = try? ImageReader(fd: fd) else { return }
    let relocation = (try? PathRelocation(arguments: ["/tmp=/var/tmp", "/home/with space=/srv"])) ?? PathRelocation()
    guard let header = try? RestartHeader.read(reader, relocation: relocation) else { return }
    _ = header.refusal(machine: "x86_64", uid: 1000)
    _ = header.refusal(machine: "x86_64", uid: 0)
    // The pages that follow, with their checksums, to the END.
    while let section = try? reader.next() {
        if case .end = section { break }
    }
}
