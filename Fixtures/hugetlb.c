/* hugetlb memory (needs huge pages in the pool: /proc/sys/vm/nr_hugepages):
 * a private MAP_HUGETLB area with some huge pages touched, a shared one a
 * child also maps, a MFD_HUGETLB memfd mapped shared and privately (one
 * page copied on write), a second one held only by its descriptor, and (as
 * root: SHM_HUGETLB needs CAP_IPC_LOCK) a SysV SHM_HUGETLB segment, removed
 * while attached (zdtm shm-hugetlb: it came back in ordinary pages, on the
 * shm device, before 2026-12-07).
 * Sizes, which pages are touched and the bytes come from the seed. After
 * restart every area is still hugetlb (smaps KernelPageSize, maps device),
 * names in maps are as before (as root: a user's restart cannot reopen
 * MAP_SHARED memory by /proc/self/map_files, so that one is a memfd), the
 * bytes are back, the child's writes reach the parent, and the private
 * view still differs where it was written.
 * Usage: hugetlb SEED */
#include "fixture.h"
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>

#define HUGE (2UL << 20)
#define AREAS 5

static uint64_t rng;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

struct area { char *at; size_t size; char name[256]; unsigned dev_major, dev_minor; const char *what; };

/* The maps line of the area at `at`: its device and name; smaps' KernelPageSize in KiB. */
static long describe(char *at, struct area *a, int record) {
    char line[512], name[256];
    unsigned long start, end, off, inode;
    unsigned major, minor;
    long kib = -1;
    int mine = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        name[0] = 0;
        if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu %255[^\n]", &start, &end, &off, &major, &minor, &inode, name) >= 6) {
            mine = start == (unsigned long)at;
            if (!mine) continue;
            char *n = name;
            while (*n == ' ') n++;
            if (record) { snprintf(a->name, sizeof a->name, "%s", n); a->dev_major = major; a->dev_minor = minor; }
            else {
                if (getuid() == 0 && strcmp(a->name, n) != 0) fail("%s: maps names it \"%s\", was \"%s\"", a->what, n, a->name);
                if (major != a->dev_major || minor != a->dev_minor) fail("%s: device %x:%x, was %x:%x", a->what, major, minor, a->dev_major, a->dev_minor);
            }
        } else if (mine && sscanf(line, "KernelPageSize: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib;
}

static void fill(char *p, size_t n, uint64_t seed) { for (size_t i = 0; i < n; i += 512) p[i] = (char)(seed + i / 512 * 31); }
static int same(const char *p, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i += 512) if (p[i] != (char)(seed + i / 512 * 31)) return 0;
    return 1;
}

int main(int argc, char **argv) {
    rng = argc > 1 ? strtoull(argv[1], NULL, 10) | 1 : 1;
    struct area a[AREAS];
    int areas = AREAS;
    memset(a, 0, sizeof a);
    a[0].size = (1 + next() % 3) * HUGE; a[0].what = "private MAP_HUGETLB";
    a[1].size = (1 + next() % 2) * HUGE; a[1].what = "shared MAP_HUGETLB";
    a[2].size = 2 * HUGE;                a[2].what = "hugetlb memfd, shared";
    a[3].size = 2 * HUGE;                a[3].what = "hugetlb memfd, private";
    a[4].size = (1 + next() % 2) * HUGE; a[4].what = "SysV SHM_HUGETLB segment";
    a[0].at = mmap(NULL, a[0].size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    a[1].at = mmap(NULL, a[1].size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    int mfd = memfd_create("fixture-huge", MFD_HUGETLB);
    int lone = memfd_create("fixture-huge-fd-only", MFD_HUGETLB);
    if (a[0].at == MAP_FAILED || a[1].at == MAP_FAILED || mfd < 0 || lone < 0 || ftruncate(mfd, 2 * HUGE) != 0 || ftruncate(lone, HUGE) != 0) {
        printf("SKIP no huge pages: %s\n", strerror(errno));
        return 0;
    }
    a[2].at = mmap(NULL, a[2].size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    a[3].at = mmap(NULL, a[3].size, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
    char *tmp = mmap(NULL, HUGE, PROT_READ | PROT_WRITE, MAP_SHARED, lone, 0);
    if (a[2].at == MAP_FAILED || a[3].at == MAP_FAILED || tmp == MAP_FAILED) { fail("mmap of the memfd: %s", strerror(errno)); return finish(); }
    int shm = shmget(IPC_PRIVATE, a[4].size, IPC_CREAT | 0600 | SHM_HUGETLB);
    if (shm < 0 && getuid() == 0) { fail("shmget(SHM_HUGETLB): %s", strerror(errno)); return finish(); }
    if (shm < 0) areas = 4;  /* a user without CAP_IPC_LOCK may not */
    else {
        a[4].at = shmat(shm, NULL, 0);
        if (a[4].at == (void *)-1) { fail("shmat: %s", strerror(errno)); return finish(); }
        shmctl(shm, IPC_RMID, NULL);  /* gone once detached: nothing left behind */
    }
    uint64_t seed = next();
    if (areas > 4) fill(a[4].at, a[4].size, seed + 4);
    fill(tmp, HUGE, seed + 9);
    munmap(tmp, HUGE);  /* held only by the descriptor now */
    unsigned touched = 1 + (unsigned)(next() % (a[0].size / HUGE));  /* huge pages of the private area written */
    fill(a[0].at, touched * HUGE, seed);
    fill(a[1].at, a[1].size, seed + 1);
    fill(a[2].at, a[2].size, seed + 2);
    fill(a[3].at + HUGE, HUGE, seed + 3);  /* copied on write: differs from the memfd there */
    for (int i = 0; i < areas; i++) if (describe(a[i].at, &a[i], 1) != 2048) fail("%s is not hugetlb before the checkpoint", a[i].what);

    int go[2];
    if (pipe(go) != 0) fail("pipe");
    handle_term();
    pid_t child = fork();
    if (child == 0) {
        char x;
        if (read(go[0], &x, 1) != 1) _exit(2);
        if (!same(a[1].at, a[1].size, seed + 1)) _exit(3);
        a[1].at[a[1].size - 1] = 'C';
        _exit(0);
    }
    ready();
    wait_for_term();

    for (int i = 0; i < areas; i++) if (describe(a[i].at, &a[i], 0) != 2048) fail("%s came back without huge pages", a[i].what);
    if (areas > 4 && !same(a[4].at, a[4].size, seed + 4)) fail("SysV SHM_HUGETLB bytes differ");
    if (!same(a[0].at, touched * HUGE, seed)) fail("private MAP_HUGETLB bytes differ");
    for (size_t i = touched * HUGE; i < a[0].size; i += 4096) if (a[0].at[i] != 0) { fail("an untouched huge page is not zero"); break; }
    if (!same(a[1].at, a[1].size, seed + 1)) fail("shared MAP_HUGETLB bytes differ");
    if (!same(a[2].at, a[2].size, seed + 2)) fail("hugetlb memfd bytes differ");
    if (!same(a[3].at, HUGE, seed + 2)) fail("the private view's unwritten page does not follow the memfd");
    if (!same(a[3].at + HUGE, HUGE, seed + 3)) fail("the private view's written page lost its bytes");
    char *back = mmap(NULL, HUGE, PROT_READ, MAP_SHARED, lone, 0);
    if (back == MAP_FAILED || !same(back, HUGE, seed + 9)) fail("the memfd held only by its descriptor lost its bytes");
    if (write(go[1], "g", 1) != 1) fail("the child's pipe");
    int status = 0;
    if (wait(&status) <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the child saw other bytes (status %x)", status);
    if (a[1].at[a[1].size - 1] != 'C') fail("the child's write to shared MAP_HUGETLB memory does not reach the parent");
    return finish();
}
