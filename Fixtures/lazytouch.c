/* Lazy restore's fixture: five anonymous regions filled with a seeded
 * pattern. Right after restart (TERM), while pages may still be missing, it
 * splits one into many mappings (madvise), drops half of one with
 * MADV_DONTNEED (zeros expected), moves one with mremap, forks a child that
 * checks one, unmaps half of one, and reads the split one in a seeded random
 * page order; every page's bytes are checked, and
 * no userfaultfd of the restore is left among its descriptors.
 * First, a signal is taken on an alternate stack, a sixth region goes
 * out through write(2), and read(2) fills pages of it: the kernel's own
 * accesses to pages still missing. The alternate stack and the pages read
 * into were never touched before the checkpoint (in no image section, but
 * in a mapping that has some).
 * SLEEPERS threads sleep in a loop meanwhile.
 * Usage: lazytouch [MIB [SEED [SLEEPERS]]] (default 96 MiB, seed 1, none). */
#include "fixture.h"
#include <stdint.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <pthread.h>

static uint64_t seed = 1;
static uint64_t next_random(void) { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed; }
static uint64_t word_at(int region, size_t page, size_t word) { return ((uint64_t)region << 56) ^ (page * 0x9e3779b97f4a7c15ULL) ^ (word * 0x2545f4914f6cdd1dULL) ^ seed; }

/* Each page's first and last words and one in the middle are checked; `zero`: the page must read as zeros. */
static int check_page(const uint64_t *p, int region, size_t page, int zero) {
    size_t words = 4096 / 8, at[3] = { 0, words / 2 + page % 7, words - 1 };
    for (int k = 0; k < 3; k++) {
        uint64_t want = zero ? 0 : word_at(region, page, at[k]);
        if (p[at[k]] != want) return 0;
    }
    return 1;
}

static void fill(uint64_t *p, int region, size_t pages) {
    for (size_t page = 0; page < pages; page++)
        for (size_t w = 0; w < 512; w++) p[page * 512 + w] = word_at(region, page, w);
}

static size_t bad_pages(const uint64_t *p, int region, size_t first, size_t count, int zero) {
    size_t bad = 0;
    for (size_t page = first; page < first + count; page++) bad += !check_page(p + page * 512, region, page, zero);
    return bad;
}

/* Nothing of the restore stays: no userfaultfd among this process's descriptors. */
static int userfaultfds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = 0;
    char path[64], link[128];
    while (d && (e = readdir(d))) {
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) { link[n] = 0; found += strstr(link, "userfaultfd") != NULL; }
    }
    if (d) closedir(d);
    return found;
}

static volatile sig_atomic_t on_alt_stack;
static void on_usr1(int sig) {
    (void)sig;
    stack_t now;
    on_alt_stack = sigaltstack(NULL, &now) == 0 && (now.ss_flags & SS_ONSTACK);
}

static void *sleeper(void *arg) {
    (void)arg;
    leave_term_to_main();
    for (;;) usleep(1000);
    return NULL;
}

/* Region 5 (the last the pager reaches) goes out through write(2) into a
 * memfd first: the kernel reads pages that may still be missing (a user's
 * userfaultfd serves no kernel fault: the call fails with EFAULT unless the
 * restart issues it again), and the bytes must come back the same. */
static void write_through_kernel(const uint64_t *p, size_t pages) {
    int fd = (int)syscall(SYS_memfd_create, "lazytouch", 0);
    if (fd < 0) { fail("memfd_create: %s", strerror(errno)); return; }
    size_t total = pages * 4096, done = 0;
    while (done < total) {
        ssize_t n = write(fd, (const char *)p + done, total - done);
        if (n <= 0) { fail("write(2) of region 5 at byte %zu: %s", done, n < 0 ? strerror(errno) : "nothing written"); break; }
        done += (size_t)n;
    }
    uint64_t *back = mmap(NULL, total, PROT_READ, MAP_SHARED, fd, 0);
    if (back == MAP_FAILED) fail("mmap of the memfd: %s", strerror(errno));
    else {
        size_t bad = bad_pages(back, 5, 0, pages, 0);
        if (bad) fail("region 5: %zu pages wrong as written by write(2)", bad);
        munmap(back, total);
    }
    close(fd);
}

/* read(2) from a pipe into pages never touched before the checkpoint (a
 * user's userfaultfd serves no kernel fault there either). */
static void read_through_kernel(char *into, size_t bytes) {
    int p[2];
    if (pipe(p)) { fail("pipe: %s", strerror(errno)); return; }
    for (size_t done = 0; done < bytes; done += 4096) {
        char page[4096];
        memset(page, (int)(done / 4096) + 'a', sizeof page);
        ssize_t n = write(p[1], page, sizeof page);
        ssize_t got = n == 4096 ? read(p[0], into + done, 4096) : -1;
        if (got != 4096) { fail("read(2) into a fresh page at byte %zu: %s", done, got < 0 ? strerror(errno) : "short"); break; }
        if (into[done] != page[0] || into[done + 4095] != page[0]) { fail("read(2) into a fresh page at byte %zu: other bytes", done); break; }
    }
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 96;
    if (argc > 2) seed = (uint64_t)atoll(argv[2]) | 1;
    int sleepers = argc > 3 ? atoi(argv[3]) : 0;
    uint64_t base_seed = seed;
    size_t pages = mib * 256 / 5;
    /* Region 5, mapped first (the highest address, filled last): 8 MiB for
     * write(2), then 64 KiB, the alternate signal stack, then 64 KiB for
     * read(2); those two never touched before the checkpoint. */
    size_t pages5 = 2048, alt_pages = 16, read_pages = 16;
    uint64_t *r5 = mmap(NULL, (pages5 + alt_pages + read_pages) * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r5 == MAP_FAILED) { fail("mmap"); return finish(); }
    fill(r5, 5, pages5);
    stack_t alt = { .ss_sp = r5 + pages5 * 512, .ss_size = alt_pages * 4096, .ss_flags = 0 };
    if (sigaltstack(&alt, NULL) != 0) fail("sigaltstack: %s", strerror(errno));
    struct sigaction usr1;
    memset(&usr1, 0, sizeof usr1);
    usr1.sa_handler = on_usr1;
    usr1.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &usr1, NULL);
    uint64_t *r[5];
    for (int i = 0; i < 5; i++) {
        r[i] = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (r[i] == MAP_FAILED) { fail("mmap"); return finish(); }
        fill(r[i], i, pages);
    }
    /* A free spot for the moved region. */
    void *spot = mmap(NULL, pages * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_t t;
    for (int k = 0; k < sleepers; k++) pthread_create(&t, NULL, sleeper, NULL);
    ready();
    wait_for_term();

    /* A signal taken on the alternate stack: the kernel writes its frame
     * there (a missing page it cannot fill would make it SIGSEGV). */
    raise(SIGUSR1);
    if (!on_alt_stack) fail("SIGUSR1 was not taken on the alternate signal stack");
    write_through_kernel(r5, pages5);
    read_through_kernel((char *)(r5 + (pages5 + alt_pages) * 512), read_pages * 4096);

    /* First, region 0 (read last, and last in the pager's address order)
     * split into many mappings, as Go's runtime splits its heap: a copy of
     * pages across the new boundaries is refused whole by the kernel. */
    for (size_t at = 0; at + 16 <= pages; at += 32)
        if (madvise(r[0] + at * 512, 16 * 4096, MADV_NOHUGEPAGE) != 0) { fail("madvise(MADV_NOHUGEPAGE): %s", strerror(errno)); break; }
    size_t half = pages / 2;
    if (madvise(r[1] + half * 512, (pages - half) * 4096, MADV_DONTNEED) != 0) fail("madvise: %s", strerror(errno));
    void *moved = mremap(r[2], pages * 4096, pages * 4096, MREMAP_MAYMOVE | MREMAP_FIXED, spot);
    if (moved == MAP_FAILED) fail("mremap: %s", strerror(errno));
    pid_t child = fork();
    if (child == 0) _exit(bad_pages(r[3], 3, 0, pages, 0) == 0 ? 0 : 1);
    if (munmap(r[4], half * 4096) != 0) fail("munmap: %s", strerror(errno));

    size_t bad;
    if ((bad = bad_pages(r[1], 1, 0, half, 0))) fail("region 1: %zu of its kept pages are wrong", bad);
    if ((bad = bad_pages(r[1], 1, half, pages - half, 1))) fail("region 1: %zu pages dropped by MADV_DONTNEED are not zero", bad);
    if (moved != MAP_FAILED && (bad = bad_pages(moved, 2, 0, pages, 0))) fail("region 2: %zu pages wrong after mremap", bad);
    if ((bad = bad_pages(r[4], 4, half, pages - half, 0))) fail("region 4: %zu pages wrong after munmap of its first half", bad);
    /* Region 0 in a random order (a seeded shuffle of its pages). */
    size_t *order = malloc(pages * sizeof *order);
    for (size_t k = 0; k < pages; k++) order[k] = k;
    seed = base_seed;
    for (size_t k = pages - 1; k > 0; k--) { size_t j = next_random() % (k + 1), t = order[k]; order[k] = order[j]; order[j] = t; }
    seed = base_seed;
    bad = 0;
    for (size_t k = 0; k < pages; k++) bad += !check_page(r[0] + order[k] * 512, 0, order[k], 0);
    if (bad) fail("region 0: %zu pages wrong (read in random order)", bad);
    if (userfaultfds()) fail("%d userfaultfd descriptors are left in the restored process", userfaultfds());
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the forked child found region 3 wrong (status %x)", status);
    return finish();
}
