/* Copy-on-write sharing across fork (zdtm cow00, generalised): the root P
 * fills seeded regions, forks C, which forks G at once; then each of the
 * three writes or drops (MADV_DONTNEED) its own seeded choice of pages, C
 * mprotects part of a region (its mapping splits, P's does not), and P
 * unmaps the head of one region (C's mapping there is no longer P's). One
 * region is a private mapping of a sparse file (its written pages are
 * copies too; DONTNEED brings back the file's zeros).
 * After restart every process checks every page's bytes, and that each
 * page it and its parent both left alone is still one physical page in
 * both: equal frame numbers where pagemap shows them (root), else mapped
 * by more than one process (the "exclusive" bit clear).
 * Usage: cowshare SEED */
#include "fixture.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGE 4096
#define MAXREG 6
enum { ROOT = 0, CHILD = 1, GRANDCHILD = 2, INITIAL = 9 };
enum { KEEP, WRITE, DROP };

static uint64_t seed;
static int regions;
static size_t pages[MAXREG];
static unsigned char *base[MAXREG];
/* Barriers of the three processes (shared memory): changes made, checks done. */
static volatile int *counters;

static void arrive_and_wait(int i) {
    __atomic_add_fetch(&counters[i], 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&counters[i], __ATOMIC_SEQ_CST) < 3) usleep(1000);
}

static uint64_t mix(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    uint64_t x = seed ^ a * 0x9e3779b97f4a7c15ULL ^ b * 0xc2b2ae3d27d4eb4fULL ^ c * 0x165667b19e3779f9ULL ^ d * 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

/* What process `who` did to a page after the forks (the root's unmapped head counts as gone). */
static int action(int who, int r, size_t p) {
    uint64_t h = mix(who, r, p, 1) % 6;
    return h == 0 ? WRITE : h == 1 ? DROP : KEEP;
}
/* Before the fork: 0 untouched, 1 written with zeros, else filled. */
static int initial(int r, size_t p) { return (int)(mix(INITIAL, r, p, 2) % 4); }
static int root_unmapped(int r, size_t p) { return r == 1 && p < 2; }

static void fill(unsigned char *at, int who, int r, size_t p) {
    uint64_t *w = (uint64_t *)at;
    for (size_t i = 0; i < PAGE / 8; i++) w[i] = mix(who, r, p, i + 3) | 1;
}

/* Whether the page holds what it must, for process `who`. */
static int page_ok(int who, int r, size_t p) {
    unsigned char want[PAGE];
    int a = action(who, r, p);
    memset(want, 0, PAGE);
    if (a == WRITE) fill(want, who, r, p);
    else if (a == KEEP && initial(r, p) >= 2) fill(want, INITIAL, r, p);
    return memcmp(base[r] + p * PAGE, want, PAGE) == 0;
}

static uint64_t entry(pid_t pid, void *addr) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
    int fd = open(path, O_RDONLY);
    uint64_t e = 0;
    if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)addr / PAGE * 8)) != 8) e = 0;
    if (fd >= 0) close(fd);
    return e;
}

/* One physical page in both processes. */
static int shared(pid_t a, pid_t b, void *addr) {
    uint64_t x = entry(a, addr), y = entry(b, addr);
    const uint64_t present = 1ULL << 63, exclusive = 1ULL << 56, frame = (1ULL << 55) - 1;
    if (!(x & present) || !(y & present)) return 0;
    if ((x & frame) || (y & frame)) return (x & frame) == (y & frame);
    return !(x & exclusive) && !(y & exclusive);
}

/* Checks bytes, and sharing with the parent where both left a filled page alone. */
static int check(int who, int parent_role) {
    int shared_pages = 0;
    for (int r = 0; r < regions; r++) {
        for (size_t p = 0; p < pages[r]; p++) {
            if (who == ROOT && root_unmapped(r, p)) continue;
            if (!page_ok(who, r, p)) fail("process %d: region %d page %zu has the wrong bytes", who, r, p);
            if (parent_role < 0 || root_unmapped(r, p) || r == 1) continue;
            if (action(who, r, p) != KEEP || action(parent_role, r, p) != KEEP || initial(r, p) < 2) continue;
            if (!shared(getpid(), getppid(), base[r] + p * PAGE)) fail("process %d: region %d page %zu is no longer shared with its parent", who, r, p);
            else shared_pages++;
        }
    }
    return shared_pages;
}

static void change(int who) {
    for (int r = 0; r < regions; r++) {
        for (size_t p = 0; p < pages[r]; p++) {
            if (who == ROOT && root_unmapped(r, p)) continue;
            int a = action(who, r, p);
            if (a == WRITE) fill(base[r] + p * PAGE, who, r, p);
            else if (a == DROP) madvise(base[r] + p * PAGE, PAGE, MADV_DONTNEED);
        }
    }
}

static int run(int who, int parent_role) {
    change(who);
    if (who == ROOT) munmap(base[1], 2 * PAGE);
    if (who == CHILD) mprotect(base[0] + 2 * PAGE, 3 * PAGE, PROT_READ);
    arrive_and_wait(0);
    int before = check(who, parent_role);
    arrive_and_wait(1);
    if (who == ROOT) ready();
    wait_for_term();
    int after = check(who, parent_role);
    if (parent_role >= 0 && after != before) fail("process %d: %d pages shared with its parent, %d before", who, after, before);
    if (parent_role >= 0) printf("process %d shares %d pages with its parent\n", who, after);
    fflush(stdout);
    return fixture_failures ? 1 : 0;
}

/* Its one child (by any PID: a restart may give new ones). */
static int reaped_ok(void) {
    int st;
    while (waitpid(-1, &st, 0) < 0) if (errno != EINTR) return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv) {
    seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    printf("seed %llu\n", (unsigned long long)seed);
    fflush(stdout);
    counters = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counters == MAP_FAILED) { fail("mmap"); return finish(); }
    regions = 3 + (int)(mix(7, 0, 0, 0) % (MAXREG - 2));
    for (int r = 0; r < regions; r++) {
        pages[r] = 8 + mix(8, r, 0, 0) % 120;
        if (r == 2) {
            /* A private mapping of a (sparse) file: its written pages are copies on write too (zdtm cow01). */
            int fd = open("cowshare.file", O_RDWR | O_CREAT | O_TRUNC, 0600);
            if (fd < 0 || ftruncate(fd, (off_t)(pages[r] * PAGE)) != 0) { fail("file: %s", strerror(errno)); return finish(); }
            base[r] = mmap(NULL, pages[r] * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
            close(fd);
        } else {
            base[r] = mmap(NULL, pages[r] * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        }
        if (base[r] == MAP_FAILED) { fail("mmap"); return finish(); }
        madvise(base[r], pages[r] * PAGE, MADV_NOHUGEPAGE);  /* one frame per page, so pages are compared alone */
        for (size_t p = 0; p < pages[r]; p++) {
            int i = initial(r, p);
            if (i == 1) memset(base[r] + p * PAGE, 0, PAGE);
            else if (i >= 2) fill(base[r] + p * PAGE, INITIAL, r, p);
        }
    }
    handle_term();
    pid_t c = fork();
    if (c == 0) {
        pid_t g = fork();
        if (g == 0) _exit(run(GRANDCHILD, CHILD));
        int rc = run(CHILD, ROOT);
        if (!reaped_ok()) { fail("child: the grandchild failed"); rc = 1; }
        _exit(rc);
    }
    int rc = run(ROOT, -1);
    if (!reaped_ok()) fail("root: the child (or grandchild) failed");
    (void)rc;
    return finish();
}
