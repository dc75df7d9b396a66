/* A memory layout drawn from a seed: `layout SEED DIR`. Regions of one page
 * to 64 MiB, private anonymous, shared anonymous and private file mappings
 * (some at fixed addresses), with runs of zero pages (whole 4 MiB batches
 * too, and runs at, before and after 4 MiB marks), pages never touched,
 * pages with a single non-zero word, read-only and PROT_NONE pages and
 * guard pages. After restart every page is compared with what the seed
 * says it must hold; guard pages must still fault. */
#include "fixture.h"
#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#define PAGE 4096UL
#define MAX_REGIONS 12
#define BATCH_PAGES 1024UL /* the dumper's 4 MiB batch */

enum page_kind { DATA, ZERO, UNTOUCHED, SPARSE, GUARD };
enum region_kind { ANON, SHARED, FILEPRIV };

struct region {
    uint8_t *at;
    unsigned long pages;
    int kind;
    int fixed;
    uint64_t seed;
    uint8_t *plan;  /* one enum page_kind per page */
    uint8_t *prot;  /* final protection per page */
};

static struct region regions[MAX_REGIONS];
static int nregions;
static int have_guards;

static uint64_t rng_state;
static uint64_t next64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint64_t rnd(uint64_t n) { return n ? next64(&rng_state) % n : 0; }

/* The bytes a data page holds: a stream keyed by the region and page. */
static void page_content(uint64_t seed, unsigned long page, uint64_t *out) {
    uint64_t s = seed ^ (page * 0x100000001b3ULL);
    for (int i = 0; i < 512; i++) out[i] = next64(&s);
}
static void sparse_content(uint64_t seed, unsigned long page, uint64_t *out) {
    memset(out, 0, PAGE);
    uint64_t s = seed ^ (page * 0x100000001b3ULL);
    uint64_t v = next64(&s) | 1;
    out[next64(&s) % 512] = v;
}

static void mark(struct region *r, unsigned long from, unsigned long n, int kind) {
    for (unsigned long p = from; p < from + n && p < r->pages; p++) r->plan[p] = kind;
}

static unsigned long draw_pages(void) {
    /* log-uniform from one page to 64 MiB */
    int shift = (int)rnd(15);
    unsigned long max = 1UL << shift;
    return 1 + rnd(max);
}

static void plan_region(struct region *r) {
    r->plan = calloc(r->pages, 1);
    r->prot = malloc(r->pages);
    memset(r->prot, PROT_READ | PROT_WRITE, r->pages);
    /* zero runs anywhere */
    for (int k = (int)rnd(4); k > 0; k--) mark(r, rnd(r->pages), 1 + rnd(r->pages / 4 + 1), ZERO);
    /* around every 4 MiB mark: at, one before, one after, or a whole batch of zeros */
    for (unsigned long b = BATCH_PAGES; b < r->pages; b += BATCH_PAGES) {
        switch (rnd(5)) {
        case 0: mark(r, b, 1 + rnd(8), ZERO); break;
        case 1: mark(r, b - 1 - rnd(2), 1 + rnd(3), ZERO); break;
        case 2: mark(r, b - BATCH_PAGES, BATCH_PAGES * (1 + rnd(2)), ZERO); break;
        case 3: mark(r, b + 1, rnd(3), ZERO); break;
        default: break;
        }
    }
    for (int k = (int)rnd(3); k > 0; k--) mark(r, rnd(r->pages), 1 + rnd(64), UNTOUCHED);
    for (int k = (int)rnd(4); k > 0; k--) mark(r, rnd(r->pages), 1 + rnd(3), SPARSE);
    if (have_guards && r->kind != SHARED)
        for (int k = (int)rnd(3); k > 0; k--) mark(r, rnd(r->pages), 1 + rnd(3), GUARD);
    /* read-only and PROT_NONE stretches */
    for (int k = (int)rnd(3); k > 0; k--) {
        unsigned long from = rnd(r->pages), n = 1 + rnd(16);
        int prot = rnd(2) ? PROT_READ : PROT_NONE;
        for (unsigned long p = from; p < from + n && p < r->pages; p++) r->prot[p] = prot;
    }
}

static void file_content(uint64_t seed, unsigned long page, uint64_t *out) { page_content(seed ^ 0xf11e, page, out); }

static int make_region(const char *dir, int index) {
    struct region *r = &regions[index];
    /* Now and then the shape that once made a committed image unreadable:
     * 64 MiB of data with its fifth eighth zeroed (two whole zero batches). */
    int classic = rnd(8) == 0;
    r->pages = classic ? 16384 : draw_pages();
    r->kind = classic ? ANON : (int)rnd(6) < 4 ? ANON : (rnd(2) ? SHARED : FILEPRIV);
    r->seed = next64(&rng_state);
    r->fixed = rnd(4) == 0;
    int fd = -1;
    int flags = r->kind == SHARED ? MAP_SHARED | MAP_ANONYMOUS : r->kind == ANON ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_PRIVATE;
    if (r->kind == FILEPRIV) {
        char path[4200];
        snprintf(path, sizeof path, "%s/layout-file-%d", dir, index);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) { fail("open %s: %s", path, strerror(errno)); return -1; }
        uint64_t buf[512];
        for (unsigned long p = 0; p < r->pages; p++) {
            file_content(r->seed, p, buf);
            if (write(fd, buf, PAGE) != (ssize_t)PAGE) { fail("write %s", path); return -1; }
        }
    }
    void *hint = NULL;
    if (r->fixed) {
        hint = (void *)((0x200000000000UL + rnd(0x100000000UL) * PAGE) & ~(PAGE - 1));
        flags |= MAP_FIXED_NOREPLACE;
    }
    void *at = mmap(hint, r->pages * PAGE, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (at == MAP_FAILED && r->fixed) {
        flags &= ~MAP_FIXED_NOREPLACE;
        r->fixed = 0;
        at = mmap(NULL, r->pages * PAGE, PROT_READ | PROT_WRITE, flags, fd, 0);
    }
    if (fd >= 0) close(fd);
    if (at == MAP_FAILED) { fail("mmap %lu pages: %s", r->pages, strerror(errno)); return -1; }
    r->at = at;
    plan_region(r);
    if (classic) mark(r, r->pages / 2, r->pages / 8, ZERO);
    for (unsigned long p = 0; p < r->pages; p++) {
        uint64_t *page = (uint64_t *)(r->at + p * PAGE);
        switch (r->plan[p]) {
        case DATA: page_content(r->seed, p, page); break;
        case SPARSE: sparse_content(r->seed, p, page); break;
        case ZERO: memset(page, 0, PAGE); break; /* touched, then zero again */
        default: break;                          /* untouched, or a guard below */
        }
    }
    for (unsigned long p = 0; p < r->pages; p++) {
        if (r->plan[p] == GUARD && madvise(r->at + p * PAGE, PAGE, MADV_GUARD_INSTALL) != 0) {
            fail("MADV_GUARD_INSTALL: %s", strerror(errno));
            return -1;
        }
        if (r->prot[p] != (PROT_READ | PROT_WRITE)) mprotect(r->at + p * PAGE, PAGE, r->prot[p]);
    }
    return 0;
}

static sigjmp_buf probe_jump;
static void on_fault(int sig) { (void)sig; siglongjmp(probe_jump, 1); }

/* 1 when reading the byte faults. */
static int faults(volatile uint8_t *p) {
    struct sigaction sa, old_segv, old_bus;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    int faulted = 0;
    if (sigsetjmp(probe_jump, 1) == 0) (void)*p;
    else faulted = 1;
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    return faulted;
}

/* 1 when writing the byte back faults (the page is read-only). */
static int write_faults(volatile uint8_t *p) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, &old);
    int faulted = 0;
    if (sigsetjmp(probe_jump, 1) == 0) *p = *p;
    else faulted = 1;
    sigaction(SIGSEGV, &old, NULL);
    return faulted;
}

static void check_region(int index) {
    struct region *r = &regions[index];
    uint64_t want[512];
    int reported = 0;
    for (unsigned long p = 0; p < r->pages && reported < 3; p++) {
        uint8_t *page = r->at + p * PAGE;
        if (r->plan[p] == GUARD) {
            if (!faults(page)) { fail("region %d page %lu: the guard page no longer faults", index, p); reported++; }
            continue;
        }
        if (r->prot[p] == PROT_NONE) {
            if (!faults(page)) { fail("region %d page %lu: PROT_NONE page is readable", index, p); reported++; }
            mprotect(page, PAGE, PROT_READ);
        }
        switch (r->plan[p]) {
        case DATA: page_content(r->seed, p, want); break;
        case SPARSE: sparse_content(r->seed, p, want); break;
        case UNTOUCHED:
            if (r->kind == FILEPRIV) { file_content(r->seed, p, want); break; }
            /* fall through */
        default: memset(want, 0, PAGE); break;
        }
        if (memcmp(page, want, PAGE) != 0) {
            fail("region %d (%s, %lu pages at %p) page %lu (plan %d): contents differ", index,
                 r->kind == ANON ? "anon" : r->kind == SHARED ? "shared" : "file", r->pages, (void *)r->at, p, r->plan[p]);
            reported++;
        }
        if (r->prot[p] == PROT_READ && !write_faults(page)) { fail("region %d page %lu: read-only page is writable", index, p); reported++; }
    }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: layout SEED DIR\n"); return 2; }
    rng_state = strtoull(argv[1], NULL, 0);
    /* Guard pages need Linux 6.13+: without them the layout simply has none. */
    void *probe = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    have_guards = probe != MAP_FAILED && madvise(probe, PAGE, MADV_GUARD_INSTALL) == 0;
    if (probe != MAP_FAILED) munmap(probe, PAGE);
    nregions = 2 + (int)rnd(MAX_REGIONS - 2);
    unsigned long total = 0;
    for (int i = 0; i < nregions; i++) {
        if (make_region(argv[2], i) != 0) return finish();
        total += regions[i].pages;
        if (total > 24 * BATCH_PAGES) { nregions = i + 1; break; } /* at most ~96 MiB */
    }
    printf("layout seed %s: %d regions, %lu pages, guards %s\n", argv[1], nregions, total, have_guards ? "yes" : "no");
    ready();
    wait_for_term();
    for (int i = 0; i < nregions; i++) check_region(i);
    return finish();
}
