/* Memory: patterned anonymous pages with zero runs between them, a
 * read-only page, a fixed-address mapping, heap and stack data, a private
 * file mapping with one page changed, a shared file mapping (restored by
 * reference: writes still reach the file) and shared anonymous memory. */
#include "fixture.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define PAGES 64
#define FIXED_ADDR ((void *)0x7e0000000000UL)

static uint64_t pattern(size_t page, size_t word) { return (page * 0x9e3779b97f4a7c15ULL) ^ (word * 0x2545F4914F6CDD1DULL) ^ 0xabcdef; }

/* The VmFlags line of the mapping holding `at`, from /proc/self/smaps. */
static void vmflags(unsigned long at, char *flags, size_t size) {
    char line[512];
    unsigned long lo, hi;
    int inside = 0;
    flags[0] = 0;
    FILE *smaps = fopen("/proc/self/smaps", "r");
    while (smaps && fgets(line, sizeof line, smaps)) {
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) inside = lo <= at && at < hi;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0) { snprintf(flags, size, "%s", line); inside = 0; }
    }
    if (smaps) fclose(smaps);
}

int main(int argc, char **argv) {
    const char *file = argc > 1 ? argv[1] : "memory.data";
    size_t ps = 4096;
    uint64_t *anon = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* every third page stays zero (touched, then cleared), the rest patterned */
    for (size_t p = 0; p < PAGES; p++)
        for (size_t w = 0; w < ps / 8; w++) anon[p * ps / 8 + w] = (p % 3 == 0) ? 0 : pattern(p, w);
    char *ro = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(ro, 0x5a, ps);
    mprotect(ro, ps, PROT_READ);
    uint64_t *fixed = mmap(FIXED_ADDR, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (fixed != FIXED_ADDR) { fail("fixed mmap"); return finish(); }
    fixed[0] = 0x1122334455667788ULL; fixed[1023] = 42;
    char *heap = malloc(100000);
    for (int i = 0; i < 100000; i++) heap[i] = (char)(i * 7);
    volatile char stack[20000];
    for (int i = 0; i < 20000; i++) stack[i] = (char)(i * 13);

    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char buf[3 * 4096];
    for (int i = 0; i < (int)sizeof buf; i++) buf[i] = (char)('a' + i % 26);
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) { fail("write data file"); return finish(); }
    char *fmap = mmap(NULL, sizeof buf, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    fmap[4096 + 5] = '#';   /* page 1 differs from the file now */

    char shared_path[4096];
    snprintf(shared_path, sizeof shared_path, "%s.shared", file);
    int sfd = open(shared_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (ftruncate(sfd, 8192) != 0) { fail("ftruncate"); return finish(); }
    char *smap = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
    smap[100] = 'S';
    uint32_t *sanon = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sanon[0] = 0xfeedface; sanon[2 * ps / 4 + 7] = 0xcafef00d;
    /* madvise state is part of a mapping: huge pages asked for, kept out of core dumps */
    char *advised = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    madvise(advised, 4 << 20, MADV_HUGEPAGE);
    madvise(advised, 4 << 20, MADV_DONTDUMP);
    advised[12345] = 9;
    /* read-ahead hints: sequential and random access (the latter mapped without swap reserve) */
    char *seq = mmap(NULL, 8 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *rnd = mmap(NULL, 8 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    madvise(seq, 8 * ps, MADV_SEQUENTIAL);
    madvise(rnd, 8 * ps, MADV_RANDOM);
    seq[0] = 1; rnd[0] = 2;
    /* memory the kernel may drop (MAP_DROPPABLE, Linux 6.11+; skipped where it is refused) */
    char *drop = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, 0x08 | MAP_ANONYMOUS, -1, 0);
    if (drop == MAP_FAILED) drop = NULL;
    if (drop) memset(drop, 7, 4 * ps);  /* not saved: the kernel may drop it at any time */
    /* A restarted process is a new task: its /proc/self entries are new inodes. */
    struct stat self_before, self_after;
    stat("/proc/self/stat", &self_before);

    ready();
    wait_for_term();

    for (size_t p = 0; p < PAGES; p++)
        for (size_t w = 0; w < ps / 8; w++) {
            uint64_t want = (p % 3 == 0) ? 0 : pattern(p, w);
            if (anon[p * ps / 8 + w] != want) { fail("anon page %zu word %zu", p, w); p = PAGES; break; }
        }
    for (size_t i = 0; i < ps; i++) if (ro[i] != 0x5a) { fail("read-only page byte %zu", i); break; }
    if (fixed[0] != 0x1122334455667788ULL || fixed[1023] != 42) fail("fixed-address page");
    for (int i = 0; i < 100000; i++) if (heap[i] != (char)(i * 7)) { fail("heap byte %d", i); break; }
    for (int i = 0; i < 20000; i++) if (stack[i] != (char)(i * 13)) { fail("stack byte %d", i); break; }
    for (int i = 0; i < (int)sizeof buf; i++) {
        char want = (i == 4096 + 5) ? '#' : (char)('a' + i % 26);
        if (fmap[i] != want) { fail("file mapping byte %d is %c", i, fmap[i]); break; }
    }
    if (smap[100] != 'S') fail("shared file mapping lost its byte");
    smap[200] = 'T';  /* must reach the file: the mapping is shared with it */
    char back = 0;
    if (pread(sfd, &back, 1, 200) != 1 || back != 'T') fail("shared file mapping is not shared with the file after restart");
    if (sanon[0] != 0xfeedface || sanon[2 * ps / 4 + 7] != 0xcafef00d) fail("shared anonymous memory");
    if (advised[12345] != 9) fail("advised mapping content");
    char flags[512];
    vmflags((unsigned long)advised, flags, sizeof flags);
    if (!strstr(flags, " hg") || !strstr(flags, " dd")) fail("madvise flags lost: %s", flags);
    vmflags((unsigned long)seq, flags, sizeof flags);
    if (!strstr(flags, " sr")) fail("MADV_SEQUENTIAL lost: %s", flags);
    vmflags((unsigned long)rnd, flags, sizeof flags);
    if (!strstr(flags, " rr")) fail("MADV_RANDOM lost: %s", flags);
    if (!strstr(flags, " nr")) fail("MAP_NORESERVE lost: %s", flags);
    if (drop) {
        vmflags((unsigned long)drop, flags, sizeof flags);
        if (!strstr(flags, " dp")) fail("MAP_DROPPABLE lost: %s", flags);
        int restarted = stat("/proc/self/stat", &self_after) == 0 && self_after.st_ino != self_before.st_ino;
        for (size_t k = 0; restarted && k < 4 * ps; k++) if (drop[k] != 0) { fail("MAP_DROPPABLE contents were saved (byte %zu is %d)", k, drop[k]); break; }
    }
    /* the heap still grows after restart (brk restored) */
    char *more = malloc(1 << 20);
    if (!more) fail("malloc after restart");
    else memset(more, 1, 1 << 20);
    return finish();
}
