/* Memory sealed with mseal (Linux 6.10+): seeded areas of random sizes and
 * protections, a random subset sealed, one sealed only in its middle (the
 * kernel splits it). After restart the same pages are sealed (smaps "sl")
 * and refuse mprotect and munmap with EPERM, the others still take them,
 * and every byte is back.
 * Usage: sealed SEED */
#include "fixture.h"
#include <stdint.h>
#include <sys/mman.h>

#define AREAS 6
#define PAGE 4096UL

static uint64_t rng;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static long seal(void *at, size_t len) { return syscall(462, at, len, 0UL); }

/* 1 if smaps marks the page at `at` sealed, 0 if not, -1 if no mapping holds it. */
static int sealed_in_smaps(char *at) {
    char line[512];
    unsigned long start, end;
    int mine = 0, found = -1;
    FILE *f = fopen("/proc/self/smaps", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, ':') > strchr(line, ' ')) {
            mine = (unsigned long)at >= start && (unsigned long)at < end;
        } else if (mine && strncmp(line, "VmFlags:", 8) == 0) {
            found = strstr(line, " sl") != NULL;
            mine = 0;
        }
    }
    if (f) fclose(f);
    return found;
}

int main(int argc, char **argv) {
    rng = argc > 1 ? strtoull(argv[1], NULL, 10) | 1 : 1;
    char *at[AREAS];
    size_t pages[AREAS];
    int prot[AREAS];
    /* Per page: sealed or not. The last area is sealed only in its middle. */
    unsigned char *sealed[AREAS];
    for (int i = 0; i < AREAS; i++) {
        pages[i] = 3 + next() % 6;
        prot[i] = (int[]){ PROT_READ, PROT_READ | PROT_WRITE, PROT_NONE }[next() % 3];
        at[i] = mmap(NULL, pages[i] * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (at[i] == MAP_FAILED) { fail("mmap"); return finish(); }
        for (size_t p = 0; p < pages[i]; p++) at[i][p * PAGE + p % 97] = (char)(i * 16 + p + 1);
        sealed[i] = calloc(pages[i], 1);
        if (prot[i] != (PROT_READ | PROT_WRITE) && mprotect(at[i], pages[i] * PAGE, prot[i]) != 0) fail("mprotect");
        size_t from = 0, to = 0;
        if (i == AREAS - 1) { from = 1; to = pages[i] - 1; }
        else if (next() % 2) { from = 0; to = pages[i]; }
        if (to > from) {
            if (seal(at[i] + from * PAGE, (to - from) * PAGE) != 0) {
                printf("SKIP mseal: %s\n", strerror(errno));
                return 0;
            }
            memset(sealed[i] + from, 1, to - from);
        }
    }
    ready();
    wait_for_term();

    for (int i = 0; i < AREAS; i++) {
        for (size_t p = 0; p < pages[i]; p++) {
            char *page = at[i] + p * PAGE;
            int s = sealed_in_smaps(page);
            if (s != sealed[i][p]) { fail("area %d page %zu: smaps says sealed=%d, was %d", i, p, s, sealed[i][p]); continue; }
            errno = 0;
            int r = mprotect(page, PAGE, prot[i]);
            if (sealed[i][p] && (r != -1 || errno != EPERM)) fail("area %d page %zu: a sealed page took mprotect (%d, errno %d)", i, p, r, errno);
            if (!sealed[i][p] && r != 0) fail("area %d page %zu: an unsealed page refused mprotect (errno %d)", i, p, errno);
            if (prot[i] == PROT_NONE) {
                if (sealed[i][p]) continue;  /* cannot be read, and stays so */
                mprotect(page, PAGE, PROT_READ);
            }
            if (page[p % 97] != (char)(i * 16 + p + 1)) fail("area %d page %zu: its byte is lost", i, p);
        }
        errno = 0;
        int sealed_any = sealed[i][0] || sealed[i][pages[i] / 2];
        int r = munmap(at[i], pages[i] * PAGE);
        if (sealed_any && (r != -1 || errno != EPERM)) fail("area %d: sealed memory took munmap", i);
        if (!sealed_any && r != 0) fail("area %d: munmap refused (errno %d)", i, errno);
    }
    return finish();
}
