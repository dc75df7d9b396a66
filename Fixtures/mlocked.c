/* A locked mapping: 64 KiB mlock()ed, with data. After restart it is
 * locked again (smaps VmFlags "lo") and holds its data. */
#include "fixture.h"
#include <sys/mman.h>

static int locked(void *start) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    unsigned long lo, hi, want = (unsigned long)start;
    int inside = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) inside = lo <= want && want < hi;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0) { found = strstr(line, " lo") != NULL; break; }
    }
    fclose(f);
    return found;
}

int main(void) {
    size_t size = 64 << 10;
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 2;
    for (size_t i = 0; i < size; i++) p[i] = (char)(i * 7);
    if (mlock(p, size) != 0) { perror("mlock"); return 2; }
    if (locked(p) != 1) { fprintf(stderr, "smaps does not show the lock\n"); return 2; }
    ready();
    wait_for_term();
    if (locked(p) != 1) fail("the mapping is no longer locked");
    for (size_t i = 0; i < size; i++) if (p[i] != (char)(i * 7)) { fail("data differs at %zu", i); break; }
    return finish();
}
