/* Memory that changes between a pre-dump and incremental checkpoints:
 * each SIGUSR1 runs the next seeded step (pages written, dropped with
 * MADV_DONTNEED and read again as zero, a region grown and moved by
 * mremap, a new mapping, part of one unmapped, protection changed and
 * back, copy-on-write pages of a private file mapping dropped so the file
 * shows again, the same in a private mapping of a file deleted since,
 * whose pages never touched hold bytes no file has any more) and prints
 * "STEP n". Every page's expected bytes follow
 * from (seed, region, page, generation); the generations are kept in
 * the process too. After restart, SIGTERM checks every page and prints
 * PASS or FAIL. Usage: incremental SEED FILE (FILE: for the file mapping). */
#include "fixture.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096
enum { A, Z, G, M, N, U, P, D, REGIONS };
static const char names[REGIONS] = { 'A', 'Z', 'G', 'M', 'N', 'U', 'P', 'D' };

static struct region {
    char *base;
    size_t pages;
    uint8_t gen[1024];  /* 0: never written (zero, or the file's bytes in G and D) */
} r[REGIONS];

static uint64_t seed, rng;
static volatile sig_atomic_t steps_asked;

static uint64_t next(void) { return rng = seed_mix(rng); }

/* The bytes of a page: 'F' and 'E' are the files' own contents (of G and D). */
static void pattern(uint64_t *w, char name, size_t page, unsigned gen) {
    uint64_t base = seed_mix(seed ^ ((uint64_t)name << 56) ^ ((uint64_t)page << 20) ^ ((uint64_t)gen << 8));
    for (int i = 0; i < PAGE / 8; i++) w[i] = base + (uint64_t)i * 0x100000001b3ULL;
}

static void put(int k, size_t page, unsigned gen) {
    pattern((uint64_t *)(r[k].base + page * PAGE), names[k], page, gen);
    r[k].gen[page] = (uint8_t)gen;
}

static void drop(int k, size_t page, int read_after) {
    madvise(r[k].base + page * PAGE, PAGE, MADV_DONTNEED);
    r[k].gen[page] = 0;
    if (read_after) { volatile char c = r[k].base[page * PAGE + 17]; (void)c; }
}

static char *map(size_t pages) {
    char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(2); }
    return p;
}

/* A private writable mapping of a new file of `pages` pages of pattern `name`. */
static char *file_mapping(const char *path, size_t pages, char name) {
    static uint64_t page[PAGE / 8];
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(path); exit(2); }
    for (size_t p = 0; p < pages; p++) {
        pattern(page, name, p, 0);
        if (write(fd, page, PAGE) != PAGE) { perror("write"); exit(2); }
    }
    char *base = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (base == MAP_FAILED) { perror("mmap file"); exit(2); }
    close(fd);
    return base;
}

static void on_usr1(int sig) { (void)sig; steps_asked++; }

/* Writes `count` random pages of region k with generation gen, drops `drops`. */
static void churn(int k, size_t first, size_t last, int count, int drops, unsigned gen) {
    if (last <= first) return;
    for (int i = 0; i < count; i++) put(k, first + next() % (last - first), gen);
    for (int i = 0; i < drops; i++) drop(k, first + next() % (last - first), (int)(next() & 1));
}

static void step(int n) {
    unsigned gen = (unsigned)(n % 250) + 2;
    rng = seed * 1000 + (uint64_t)n;
    churn(A, 0, r[A].pages, 60, 20, gen);
    churn(Z, 0, r[Z].pages, 20, 10, gen);
    churn(G, 0, r[G].pages, 10, 0, gen);
    churn(D, 0, r[D].pages, 8, 0, gen);
    /* Copy-on-write pages dropped: the file's bytes show again. */
    for (int i = 0; i < 6; i++) {
        size_t p = next() % r[G].pages;
        if (r[G].gen[p]) drop(G, p, 1);
        p = next() % r[D].pages;
        if (r[D].gen[p]) drop(D, p, 1);
    }
    if (n == 1) {
        /* Grown, and moved if it must: the new part reads as zero. */
        size_t grown = r[M].pages + 256;
        char *moved = mremap(r[M].base, r[M].pages * PAGE, grown * PAGE, MREMAP_MAYMOVE);
        if (moved == MAP_FAILED) { perror("mremap"); exit(2); }
        r[M].base = moved;
        r[M].pages = grown;
        r[N].pages = 256;
        r[N].base = map(r[N].pages);
        for (size_t p = 0; p < r[N].pages; p += 2) put(N, p, gen);
        mprotect(r[P].base, r[P].pages / 2 * PAGE, PROT_READ);
    }
    if (n == 2) {
        munmap(r[U].base + r[U].pages / 2 * PAGE, r[U].pages / 2 * PAGE);
        r[U].pages /= 2;
    }
    if (n == 3) mprotect(r[P].base, r[P].pages / 2 * PAGE, PROT_READ | PROT_WRITE);
    churn(M, 0, r[M].pages, 30, 5, gen);
    churn(N, 0, r[N].pages, 20, 5, gen);
    churn(U, 0, r[U].pages, 10, 2, gen);
    /* The read-only half is left alone until it is writable again. */
    churn(P, n >= 3 ? 0 : r[P].pages / 2, r[P].pages, 10, 2, gen);
}

static int check(void) {
    static uint64_t want[PAGE / 8], file[PAGE / 8];
    for (int k = 0; k < REGIONS; k++) {
        for (size_t p = 0; p < r[k].pages; p++) {
            const char *at = r[k].base + p * PAGE;
            if (r[k].gen[p]) {
                pattern(want, names[k], p, r[k].gen[p]);
            } else if (k == G || k == D) {
                pattern(want, k == G ? 'F' : 'E', p, 0);
            } else {
                memset(want, 0, sizeof want);
            }
            if (memcmp(at, want, PAGE) != 0) {
                pattern(file, k == D ? 'E' : 'F', p, 0);
                fail("region %c page %zu (generation %u): bytes differ%s", names[k], p, r[k].gen[p],
                     (k == G || k == D) && memcmp(at, file, PAGE) == 0 ? " (it holds the file's)" : "");
                return 1;
            }
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: incremental SEED FILE\n"); return 2; }
    seed = strtoull(argv[1], NULL, 10);
    rng = seed;
    size_t sizes[REGIONS] = { 1024, 1024, 256, 512, 0, 256, 256, 128 };
    for (int k = 0; k < REGIONS; k++) r[k].pages = sizes[k];
    r[A].base = map(r[A].pages);
    r[Z].base = map(r[Z].pages);
    r[M].base = map(r[M].pages);
    r[U].base = map(r[U].pages);
    r[P].base = map(r[P].pages);
    /* The file mapping: the file holds pattern 'F'. */
    r[G].base = file_mapping(argv[2], r[G].pages, 'F');
    /* The same over a file deleted at once: only the mapping holds its bytes. */
    char gone[4096];
    snprintf(gone, sizeof gone, "%s.gone", argv[2]);
    r[D].base = file_mapping(gone, r[D].pages, 'E');
    unlink(gone);
    for (size_t p = 0; p < r[A].pages; p++) put(A, p, 1);
    for (size_t p = 0; p < r[D].pages; p += 4) put(D, p, 1);
    for (size_t p = 0; p < r[Z].pages; p += 7) put(Z, p, 1);
    for (size_t p = 0; p < r[G].pages; p += 3) put(G, p, 1);
    for (size_t p = 0; p < r[M].pages; p++) put(M, p, 1);
    for (size_t p = 0; p < r[U].pages; p++) put(U, p, 1);
    for (size_t p = 0; p < r[P].pages; p++) put(P, p, 1);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    ready();
    /* SIGUSR1 and SIGTERM wait blocked except inside sigsuspend, so none is lost. */
    sigset_t both, old, during;
    sigemptyset(&both);
    sigaddset(&both, SIGUSR1);
    sigaddset(&both, SIGTERM);
    sigprocmask(SIG_BLOCK, &both, &old);
    during = old;
    sigdelset(&during, SIGUSR1);
    sigdelset(&during, SIGTERM);
    int done = 0;
    while (!fixture_stop) {
        if (done < steps_asked) {
            step(++done);
            printf("STEP %d\n", done);
            fflush(stdout);
            continue;
        }
        sigsuspend(&during);
    }
    if (check() == 0) printf("checked %d steps\n", done);
    return finish();
}
