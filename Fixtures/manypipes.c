/* More pipes than a user's pipe buffer allowance (fs.pipe-user-pages-soft,
 * 16384 pages: 1024 pipes of the default 64 KiB): past it the kernel gives
 * a user's new pipes two pages and refuses to grow them. 1100 pipes, each
 * holding a few bytes of its own, seeded; a checkpoint by that user copies
 * their bytes through small pipes of its own (it failed: F_SETPIPE_SZ,
 * EPERM). After the restart every pipe holds its bytes.
 * usage: manypipes [SEED] */
#include "fixture.h"
#include <sys/resource.h>

#define PIPES 1100

static int ends[PIPES][2];
static char want[PIPES][24];

int main(int argc, char **argv) {
    unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_max != RLIM_INFINITY && r.rlim_max < 2 * PIPES + 64) { printf("SKIP: RLIMIT_NOFILE hard limit %lu\n", (unsigned long)r.rlim_max); return 0; }
    r.rlim_cur = 2 * PIPES + 64;
    setrlimit(RLIMIT_NOFILE, &r);
    for (int i = 0; i < PIPES; i++) {
        if (pipe(ends[i]) != 0) { fail("pipe %d: %s", i, strerror(errno)); return finish(); }
        snprintf(want[i], sizeof want[i], "%d:%llx", i, seed_mix(seed + (unsigned long long)i) % 100000);
        if (write(ends[i][1], want[i], strlen(want[i])) != (ssize_t)strlen(want[i])) fail("write to pipe %d", i);
    }
    ready();
    wait_for_term();
    for (int i = 0; i < PIPES; i++) {
        char got[32] = { 0 };
        ssize_t n = read(ends[i][0], got, sizeof got - 1);
        if (n != (ssize_t)strlen(want[i]) || memcmp(got, want[i], (size_t)n) != 0) {
            fail("pipe %d holds '%s', want '%s'", i, got, want[i]);
            break;
        }
    }
    return finish();
}
