/* Unlinked files with holes: a seeded random layout of data blocks and
 * holes (leading, trailing, one of 1 GiB), unlinked while open. After
 * restart the file has the same size, SEEK_DATA/SEEK_HOLE find the same
 * extents, and the data blocks hold the same bytes.
 * Usage: holes DIR SEED */
#include "fixture.h"
#include <fcntl.h>
#include <sys/stat.h>

#define BLOCK 4096
#define SLOTS 24

static unsigned char pattern(int slot, int i) { return (unsigned char)(slot * 31 + i * 7 + 1); }

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    unsigned seed = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
    srand(seed);
    /* Each slot is a block of data or a hole; slot 12 is followed by 1 GiB of hole. */
    int data[SLOTS];
    for (int k = 0; k < SLOTS; k++) data[k] = rand() % 3 == 0;
    data[SLOTS / 2] = 1;
    off_t gap = (off_t)1 << 30;
    off_t where[SLOTS];
    for (int k = 0; k < SLOTS; k++) where[k] = (off_t)k * BLOCK + (k > SLOTS / 2 ? gap : 0);
    off_t size = where[SLOTS - 1] + BLOCK;

    char path[256];
    snprintf(path, sizeof path, "%s/holes.%u", dir, seed);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { fail("open %s", path); return finish(); }
    unlink(path);
    unsigned char buf[BLOCK];
    for (int k = 0; k < SLOTS; k++) {
        if (!data[k]) continue;
        for (int i = 0; i < BLOCK; i++) buf[i] = pattern(k, i);
        if (pwrite(fd, buf, BLOCK, where[k]) != BLOCK) fail("pwrite slot %d", k);
    }
    if (ftruncate(fd, size) != 0) fail("ftruncate");
    /* Where the file system itself puts data and holes (it may round). */
    off_t layout[2 * SLOTS + 2];
    int n = 0;
    for (off_t at = 0; at < size && n < 2 * SLOTS;) {
        off_t d = lseek(fd, at, SEEK_DATA);
        if (d < 0) break;
        off_t h = lseek(fd, d, SEEK_HOLE);
        layout[n++] = d;
        layout[n++] = h;
        at = h;
    }

    ready();
    wait_for_term();

    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size != size) fail("size %lld, want %lld", (long long)st.st_size, (long long)size);
    if (st.st_blocks * 512 > (off_t)SLOTS * BLOCK * 2) fail("%lld bytes allocated: the holes were filled", (long long)st.st_blocks * 512);
    int m = 0;
    for (off_t at = 0; at < size && m < 2 * SLOTS;) {
        off_t d = lseek(fd, at, SEEK_DATA);
        if (d < 0) break;
        off_t h = lseek(fd, d, SEEK_HOLE);
        if (m + 1 >= n || layout[m] != d || layout[m + 1] != h) { fail("extent %d is %lld..%lld", m / 2, (long long)d, (long long)h); break; }
        m += 2;
        at = h;
    }
    if (m != n) fail("%d extents, want %d", m / 2, n / 2);
    for (int k = 0; k < SLOTS; k++) {
        if (pread(fd, buf, BLOCK, where[k]) != BLOCK) { fail("pread slot %d", k); continue; }
        for (int i = 0; i < BLOCK; i++)
            if (buf[i] != (data[k] ? pattern(k, i) : 0)) { fail("slot %d byte %d differs", k, i); break; }
    }
    return finish();
}
