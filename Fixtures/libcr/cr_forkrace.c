/* fork() right after cr_init(), while libcr's agent thread is starting, as
 * MPICH's Hydra proxy forks its ranks: libcr's atfork handler runs in the
 * child, where any lock another thread held at the fork stays held, so it
 * must take none (a child of the proxy once hung there). ROUNDS times: a
 * fresh process calls cr_init() and forks children for the next 3 ms (the
 * agent thread's start), each of which exits at once; every child must be
 * gone within 5 s. The hang needs another thread inside the Swift runtime
 * at the fork instant, so this is a stress run, not a sure reproduction
 * (under Hydra the old handler hung 1 launch in 20). Usage: cr_forkrace ROUNDS */
#include <libcr.h>
#include <sys/wait.h>
#include <time.h>
#include "fixture.h"

static int one_round(void) {
    if (cr_init() < 0) { fprintf(stderr, "cr_init: %s\n", strerror(errno)); return 1; }
    pid_t kids[64];
    int count = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        kids[count] = fork();
        if (kids[count] == 0) _exit(0);
        count++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (count < 64 && (now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < 3000000L);
    int stuck = 0;
    for (int k = 0; k < count; k++) {
        if (kids[k] < 0) continue;
        int status, gone = 0;
        for (int t = 0; t < 500 && !gone; t++) {
            if (waitpid(kids[k], &status, WNOHANG) == kids[k]) gone = 1;
            else usleep(10000);
        }
        if (!gone) { stuck++; kill(kids[k], SIGKILL); waitpid(kids[k], &status, 0); }
    }
    return stuck;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 20, stuck = 0;
    for (int r = 0; r < rounds; r++) {
        pid_t p = fork();  /* each round in a fresh process: cr_init() runs once per process */
        if (p == 0) _exit(one_round());
        int status = 0;
        waitpid(p, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) stuck++;
    }
    if (stuck) fail("%d of %d rounds had a forked child stuck in libcr's atfork handler", stuck, rounds);
    return finish();
}
