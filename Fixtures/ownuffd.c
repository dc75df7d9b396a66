/* A program that tracks its own writes with asynchronous userfaultfd write
 * protection (Linux 6.7+): it protects a buffer, writes one page, and after
 * SIGTERM asks the kernel which pages were written. A pre-dump in between
 * must leave that tracking alone (it cannot tell the program's
 * registration from its own, so it must not track this process at all):
 * the program must still see exactly the page it wrote.
 * With "late" it starts tracking only on SIGUSR1 (after a pre-dump), in a
 * mapping made then, and prints STEP 1: an incremental checkpoint must not
 * take that mapping for one of its own (its protected pages are not the
 * parent image's); after restart the buffer's bytes are checked.
 * Usage: ownuffd [late]   (prints READY 0 where the kernel lacks the feature) */
#include "fixture.h"
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* linux/fs.h of 6.7+, not in older headers. */
struct region { uint64_t start, end, categories; };
struct scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define SCAN_IOCTL 0xc0606610UL       /* PAGEMAP_SCAN */
#define SCAN_WP_MATCHING 1ULL         /* PM_SCAN_WP_MATCHING */
#define IS_WRITTEN (1ULL << 1)        /* PAGE_IS_WRITTEN */
#define WP_ASYNC (1ULL << 15)         /* UFFD_FEATURE_WP_ASYNC */

enum { PAGES = 64, WRITTEN_PAGE = 3 };

/* The written pages' runs in the buffer; with `protect`, protected again. */
static long written(int pagemap, char *buf, struct region *out, int protect) {
    struct scan_arg a = { sizeof a, protect ? SCAN_WP_MATCHING : 0, (uint64_t)(uintptr_t)buf,
                          (uint64_t)(uintptr_t)buf + PAGES * 4096, 0, (uint64_t)(uintptr_t)out, PAGES, 0,
                          0, IS_WRITTEN, 0, IS_WRITTEN };
    return ioctl(pagemap, SCAN_IOCTL, &a);
}

static volatile sig_atomic_t go;
static void on_usr1(int sig) { (void)sig; go = 1; }

int main(int argc, char **argv) {
    int late = argc > 1 && strcmp(argv[1], "late") == 0;
    if (late) {
        signal(SIGUSR1, on_usr1);
        /* Whether the kernel can, before READY: a probe descriptor, closed again. */
        int probe = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
        struct uffdio_api papi = { .api = UFFD_API, .features = WP_ASYNC };
        if (probe < 0 || ioctl(probe, UFFDIO_API, &papi) != 0) { printf("READY 0\n"); return 0; }
        close(probe);
        ready();
        while (!go) pause();
    }
    char *buf = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    madvise(buf, PAGES * 4096, MADV_NOHUGEPAGE);
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    struct uffdio_api api = { .api = UFFD_API, .features = WP_ASYNC };
    struct uffdio_register reg = { .range = { (uintptr_t)buf, PAGES * 4096 }, .mode = UFFDIO_REGISTER_MODE_WP };
    int pagemap = open("/proc/self/pagemap", O_RDONLY);
    struct region regions[PAGES];
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0 || ioctl(uffd, UFFDIO_REGISTER, &reg) != 0 || pagemap < 0) {
        printf("READY 0\n");  /* no asynchronous write protection here */
        return 0;
    }
    memset(buf, 1, PAGES * 4096);
    if (written(pagemap, buf, regions, 1) < 0) fail("PAGEMAP_SCAN: %s", strerror(errno));
    buf[WRITTEN_PAGE * 4096] = 2;

    if (late) {
        printf("STEP 1\n");
        fflush(stdout);
        wait_for_term();
        /* After restart: the bytes (the program's descriptor was not saved). */
        for (int p = 0; p < PAGES; p++)
            if (buf[p * 4096] != (p == WRITTEN_PAGE ? 2 : 1)) { fail("page %d reads %d after restart", p, buf[p * 4096]); break; }
        return finish();
    }
    ready();
    wait_for_term();

    long n = written(pagemap, buf, regions, 0);
    uint64_t want = (uint64_t)(uintptr_t)buf + WRITTEN_PAGE * 4096;
    if (n != 1 || regions[0].start != want || regions[0].end != want + 4096)
        fail("the program's own write tracking changed: %ld written runs, first at page %ld", n,
             n > 0 ? (long)((regions[0].start - (uintptr_t)buf) / 4096) : -1L);
    for (int p = 0; p < PAGES; p++)
        if (buf[p * 4096] != (p == WRITTEN_PAGE ? 2 : 1)) { fail("page %d changed", p); break; }
    return finish();
}
