/* fork() right after cr_init(), while libcr's agent thread is starting, as
 * MPICH's Hydra proxy forks its ranks: libcr's atfork handler runs in the
 * child, where any lock another thread held at the fork stays held, so it
 * must take none (a child of the proxy once hung there). ROUNDS times: a
 * fresh process calls cr_init() and forks children for the next 3 ms (the
 * agent thread's start), each of which calls cr_init() itself, as BLCR's
 * forward test's children do, and exits once its own agent thread waits
 * for requests; every child must be gone within 5 s. A parent's agent
 * thread that was still making the Swift runtime's type metadata for its
 * first poll when the parent forked left that metadata half made in the
 * child, whose agent then spun on it for good. Both hangs need another
 * thread inside the Swift runtime at the fork instant, so this is a stress
 * run, not a sure reproduction (under Hydra the old handler hung 1 launch
 * in 20; BLCR's forward test hung 1 run in 12). Usage: cr_forkrace ROUNDS */
#include <libcr.h>
#include <dirent.h>
#include <sys/wait.h>
#include <time.h>
#include "fixture.h"

/* Whether this process's thread named cr-agent sleeps in poll(), its idle wait. */
static int agent_waits(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    int waits = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !waits) {
        if (e->d_name[0] == '.') continue;
        char path[320], comm[32] = "", wchan[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) { if (!fgets(comm, sizeof comm, f)) comm[0] = 0; fclose(f); }
        if (strcmp(comm, "cr-agent\n") != 0) continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/wchan", e->d_name);
        f = fopen(path, "r");
        if (f) { if (!fgets(wchan, sizeof wchan, f)) wchan[0] = 0; fclose(f); }
        waits = strstr(wchan, "poll") != NULL;
    }
    closedir(d);
    return waits;
}

static int child(void) {
    if (cr_init() < 0) _exit(2);
    for (int t = 0; t < 400; t++) {  /* 2 s */
        if (agent_waits()) _exit(0);
        usleep(5000);
    }
    _exit(3);
}

static int one_round(void) {
    if (cr_init() < 0) { fprintf(stderr, "cr_init: %s\n", strerror(errno)); return 1; }
    pid_t kids[64];
    int count = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        kids[count] = fork();
        if (kids[count] == 0) child();
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
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) stuck++;
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
    if (stuck) fail("%d of %d rounds had a forked child stuck in libcr's atfork handler or its agent never waiting", stuck, rounds);
    return finish();
}
