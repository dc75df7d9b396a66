/* memfds: one sealed against shrinking and growing, both open and mapped
 * shared (after restart a write through the descriptor shows in the
 * mapping: still one object), and one not mapped, without sealing, at an
 * offset. Names, sizes, contents and seals come back. */
#include "fixture.h"
#include <fcntl.h>
#include <sys/mman.h>

static void expect_name(int fd, const char *want) {
    char link[64], got[256];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, got, sizeof got - 1);
    got[n < 0 ? 0 : n] = 0;
    if (strcmp(got, want) != 0) fail("fd %d is %s, want %s", fd, got, want);
}

int main(void) {
    int a = memfd_create("swiftcr-sealed", MFD_ALLOW_SEALING);
    int b = memfd_create("plain", 0);
    if (a < 0 || b < 0) { fail("memfd_create"); return finish(); }
    static char data[10000];
    for (int i = 0; i < 10000; i++) data[i] = (char)(i * 31 + 3);
    if (write(a, data, 10000) != 10000 || ftruncate(a, 16384) != 0) fail("fill a");
    char *map = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
    if (map == MAP_FAILED) { fail("mmap"); return finish(); }
    memcpy(map + 12000, "mapped", 6);
    if (fcntl(a, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) fail("F_ADD_SEALS");
    if (write(b, "hello memfd", 11) != 11 || lseek(b, 6, SEEK_SET) != 6) fail("fill b");

    ready();
    wait_for_term();

    expect_name(a, "/memfd:swiftcr-sealed (deleted)");
    expect_name(b, "/memfd:plain (deleted)");
    int seals = fcntl(a, F_GET_SEALS);
    if (seals != (F_SEAL_SHRINK | F_SEAL_GROW)) fail("seals of a: 0x%x", seals);
    if (fcntl(b, F_GET_SEALS) != F_SEAL_SEAL) fail("b should not allow sealing (seals 0x%x)", fcntl(b, F_GET_SEALS));
    if (ftruncate(a, 4096) == 0) fail("a could shrink despite F_SEAL_SHRINK");
    static char got[16384];
    if (pread(a, got, 16384, 0) != 16384) fail("a is no longer 16384 bytes");
    else {
        if (memcmp(got, data, 10000) != 0) fail("a's contents differ");
        if (memcmp(got + 12000, "mapped", 6) != 0) fail("the write through the mapping is not in the file");
    }
    if (pwrite(a, "through fd", 10, 100) != 10 || memcmp(map + 100, "through fd", 10) != 0)
        fail("a write through the descriptor does not show in the mapping: no longer one object");
    char rest[8] = { 0 };
    if (read(b, rest, 5) != 5 || memcmp(rest, "memfd", 5) != 0) fail("b: offset or contents lost (read \"%s\")", rest);
    return finish();
}
