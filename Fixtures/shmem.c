/* Shared anonymous memory across fork: parent and child map one MAP_SHARED
 * region. After restart both still see each other's writes, and as root
 * /proc/self/maps names the region as the kernel did ("/dev/zero (deleted)"). */
#include "fixture.h"
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

/* The name /proc/self/maps gives the mapping at `at` (empty if none). */
static void maps_name(void *at, char *name, size_t size) {
    char line[512];
    name[0] = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long start;
        int skip = 0;
        if (sscanf(line, "%lx-%*x %*s %*x %*x:%*x %*u %n", &start, &skip) < 1 || start != (unsigned long)at) continue;
        snprintf(name, size, "%s", skip > 0 ? line + skip : "");
        name[strcspn(name, "\n")] = 0;
    }
    if (f) fclose(f);
}

int main(void) {
    size_t size = 5 * 4096;
    volatile uint32_t *shared = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) { fail("mmap"); return finish(); }
    for (size_t i = 0; i < size / 4; i++) shared[i] = (uint32_t)(i * 2654435761u);
    handle_term();
    pid_t child = fork();
    if (child == 0) {
        shared[1] = 0xC0FFEE;  /* before the checkpoint */
        wait_for_term();
        for (size_t i = 4; i < size / 4; i++) if (shared[i] != (uint32_t)(i * 2654435761u)) { fail("child: word %zu", i); break; }  /* 1-3 carry the protocol */
        shared[2] = 0xAF7E12;  /* after the restart: the parent must see it */
        for (int k = 0; k < 500 && shared[3] != 0xBEEF; k++) usleep(10000);
        if (shared[3] != 0xBEEF) fail("child: the parent's write after restart never arrived");
        return finish();
    }
    for (int k = 0; k < 500 && shared[1] != 0xC0FFEE; k++) usleep(1000);
    char before[256], after[256];
    maps_name((void *)shared, before, sizeof before);
    ready();
    wait_for_term();
    maps_name((void *)shared, after, sizeof after);
    if (getuid() == 0 && strcmp(before, after) != 0) fail("parent: maps named the region \"%s\", now \"%s\"", before, after);
    if (shared[1] != 0xC0FFEE) fail("parent: the child's write before the checkpoint is gone");
    shared[3] = 0xBEEF;
    for (int k = 0; k < 500 && shared[2] != 0xAF7E12; k++) usleep(10000);
    if (shared[2] != 0xAF7E12) fail("parent: the child's write after restart never arrived (memory not shared)");
    int st;
    /* -1, not `child`: with --no-restore-pid the child has a new PID */
    if (waitpid(-1, &st, 0) <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) fail("child failed");
    return finish();
}
