// libFuzzer target for the image reader (built by scripts/fuzz.sh together
// with Sources/CheckpointImage, so no import). Every reader entry point gets
// the input as a file: the streaming reader with page checksums, the index,
// and the verifier. Errors are expected; a crash, trap, hang or runaway
// allocation is a finding.
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
    return 0
}
