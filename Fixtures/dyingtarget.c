/* A target that dies while it is being checkpointed: `dyingtarget MIB
 * THREADS [vfork]`. It holds MIB MiB of data that is not zero and THREADS
 * threads besides its main one, each asleep in a system call. With `vfork`
 * the main thread then waits in vfork() (a child prints "VFORKED PID" and
 * sleeps), where it cannot stop for a tracer, so a checkpoint stays waiting
 * for it. The test SIGKILLs it at some moment of a checkpoint: the
 * checkpointer must notice, end with an error or a sound image, and leave
 * no image half written. Prints READY, then runs until killed. */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include "fixture.h"

static void *sleeper(void *arg) {
    leave_term_to_main();
    for (;;) pause();
    return arg;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 16;
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    int in_vfork = argc > 3 && strcmp(argv[3], "vfork") == 0;
    uint64_t *data = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) { fail("mmap %zu MiB: %s", mib, strerror(errno)); return finish(); }
    for (size_t i = 0; i < (mib << 20) / 8; i++) data[i] = i * 0x9e3779b97f4a7c15ULL + 1;
    for (int t = 0; t < threads; t++) {
        pthread_t id;
        if (pthread_create(&id, NULL, sleeper, NULL) != 0) { fail("pthread_create"); return finish(); }
    }
    ready();
    if (in_vfork) {
        pid_t child = vfork();
        if (child == 0) {
            char line[64];
            int n = snprintf(line, sizeof line, "VFORKED %d\n", (int)getpid());
            if (write(1, line, (size_t)n) != n) _exit(1);
            sleep(60);
            _exit(0);
        }
    }
    for (;;) pause();
}
