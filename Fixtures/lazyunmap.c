/* A thread that unmaps memory a lazy restart registered, page by page,
 * while the pager finishes: PAGES one-page mappings (PROT_NONE pages
 * between them keep them apart) and a MIB region beside, all seeded. The
 * thread waits for GOFILE, which the test makes between checkpoint and
 * restart, then checks each page and unmaps it, one after another, and
 * drops one more page again and again (MADV_DONTNEED) for three seconds,
 * and on while a tracer has the process (a user's restorer, until the pager
 * is done: at most thirty seconds),
 * while the main thread checks the region; then it ends on its own. No signal
 * comes (one it catches would make a user's restorer fill everything at
 * once). Each munmap or madvise of registered memory waits until the
 * restorer reads its event, so the thread is nearly always inside one: a restorer that
 * stopped reading before it let go of the threads it traces (a user's)
 * waited for ever for this one to stop.
 * usage: lazyunmap GOFILE [MIB [PAGES]]   (default 64 MiB, 4000 pages) */
#include "fixture.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

static size_t pages = 4000, bad_small;
static char *small;
static uint64_t *churn;
static volatile int unmapper_done;
static const char *go;

/* Whether GOFILE is there. Path and result are written here first: a
 * user's userfaultfd serves no fault the kernel takes, and a stat into a
 * page still missing would fail with EFAULT and make the restorer fill
 * everything at once. */
static int go_is_there(void) {
    char path[512];
    struct stat st;
    strncpy(path, go, sizeof path - 1);
    path[sizeof path - 1] = 0;
    memset(&st, 0, sizeof st);
    return stat(path, &st) == 0;
}

/* Whether a tracer (a user's lazy restorer, until every page is in) still
 * has this process. The churn below goes on until it is gone, so the thread
 * is in a madvise when the pager runs out of pages, whenever that is. The
 * buffer is written first, as in go_is_there. */
static int traced(void) {
    char buf[4096];
    memset(buf, 0, sizeof buf);
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    char *t = n > 0 ? strstr(buf, "TracerPid:") : NULL;
    return t && atoi(t + 10) != 0;
}

static uint64_t word(size_t page, size_t k) { return (page + 1) * 0x9e3779b97f4a7c15ULL ^ k * 0x2545f4914f6cdd1dULL; }

static void *unmapper(void *arg) {
    (void)arg;
    while (!go_is_there()) usleep(1000);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t i = 0; i < pages; i++) {
        uint64_t *p = (uint64_t *)(small + 2 * i * 4096);
        if (p[0] != word(i, 0) || p[511] != word(i, 511)) bad_small++;
        if (munmap(p, 4096) != 0) { fail("munmap of page %zu: %s", i, strerror(errno)); break; }
    }
    /* Then drops one registered page again and again for three seconds, and
     * on while traced: each MADV_DONTNEED waits for its event to be read too,
     * so the thread is in one when the pager runs out of pages, however fast
     * the unmapping went. */
    unsigned rounds = 0;
    int still_traced = 1;
    do {
        if (madvise(churn, 4096, MADV_DONTNEED) != 0) { fail("madvise: %s", strerror(errno)); break; }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (++rounds % 64 == 0) still_traced = traced();
    } while (now.tv_sec - start.tv_sec < 3 || (still_traced && now.tv_sec - start.tv_sec < 30));
    if (churn[0] != 0) fail("the dropped page reads %lu, not zero", (unsigned long)churn[0]);
    unmapper_done = 1;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) { fail("usage: lazyunmap GOFILE [MIB [PAGES]]"); return finish(); }
    go = argv[1];
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 64;
    if (argc > 3) pages = (size_t)atol(argv[3]);
    small = mmap(NULL, 2 * pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t *big = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    churn = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (small == MAP_FAILED || big == MAP_FAILED || churn == MAP_FAILED) { fail("mmap: %s", strerror(errno)); return finish(); }
    churn[0] = 7;
    for (size_t i = 0; i < pages; i++) {
        uint64_t *p = (uint64_t *)(small + 2 * i * 4096);
        for (size_t k = 0; k < 512; k++) p[k] = word(i, k);
        if (mprotect(small + (2 * i + 1) * 4096, 4096, PROT_NONE) != 0) { fail("mprotect: %s", strerror(errno)); return finish(); }
    }
    size_t words = (mib << 20) / 8;
    for (size_t k = 0; k < words; k++) big[k] = word(k / 512 + pages, k % 512);
    pthread_t t;
    if (pthread_create(&t, NULL, unmapper, NULL) != 0) { fail("pthread_create"); return finish(); }

    ready();
    while (!go_is_there()) usleep(1000);
    size_t bad = 0;
    for (size_t k = 0; k < words; k += 509) bad += big[k] != word(k / 512 + pages, k % 512);
    /* Waited for in user space: pthread_join's futex would be the kernel reading
     * a page perhaps still missing (EFAULT, and everything filled at once). */
    while (!unmapper_done) usleep(1000);
    pthread_join(t, NULL);
    if (bad) fail("%zu words of the region wrong", bad);
    if (bad_small) fail("%zu of %zu unmapped pages were wrong before their unmapping", bad_small, pages);
    return finish();
}
