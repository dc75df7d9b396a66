/* A process tree: the root leads a session; child A leads its own process
 * group and has a grandchild G in that group; child Z has exited with
 * status 7 and is left unreaped (a zombie). After restart every process gets
 * SIGTERM, checks its own memory, and exits 0; parents reap their children
 * (proving the parent links) and the root also reaps Z and checks its status.
 * Usage: tree [ids|plain] - "ids" also checks sessions and groups (run with
 * --restore-pgid --restore-sid) and that PIDs are the original ones. */
#include "fixture.h"
#include <stdint.h>
#include <sys/wait.h>

static int check_ids;

static void fill(uint64_t *p, size_t n, uint64_t seed) { for (size_t i = 0; i < n; i++) p[i] = seed * 0x9e3779b97f4a7c15ULL + i; }
static int same(uint64_t *p, size_t n, uint64_t seed) { for (size_t i = 0; i < n; i++) if (p[i] != seed * 0x9e3779b97f4a7c15ULL + i) return 0; return 1; }

/* Reaps every child; returns how many exited with each code (index 0 and 7). */
static void reap_all(int *ok, int *seven, int *other) {
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, 0)) > 0 || (p < 0 && errno == EINTR)) {
        if (p < 0) continue;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) (*ok)++;
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 7) (*seven)++;
        else (*other)++;
    }
}

static int run(const char *role, uint64_t seed, pid_t want_ppid, pid_t want_pgrp, pid_t want_sid, int children) {
    static uint64_t mem[4096];
    fill(mem, 4096, seed);
    pid_t me = getpid();
    wait_for_term();
    if (!same(mem, 4096, seed)) fail("%s: memory", role);
    if (check_ids) {
        if (getpid() != me) fail("%s: pid %d, was %d", role, getpid(), me);
        if (want_ppid > 0 && getppid() != want_ppid) fail("%s: ppid %d, want %d", role, getppid(), want_ppid);
        if (getpgrp() != want_pgrp) fail("%s: pgrp %d, want %d", role, getpgrp(), want_pgrp);
        if (getsid(0) != want_sid) fail("%s: sid %d, want %d", role, getsid(0), want_sid);
    }
    int ok = 0, seven = 0, other = 0;
    reap_all(&ok, &seven, &other);
    if (ok != children || other != 0) fail("%s: reaped %d children with status 0 (want %d), %d others", role, ok, children, other);
    return seven;
}

int main(int argc, char **argv) {
    check_ids = argc > 1 && strcmp(argv[1], "ids") == 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fixture_on_term;
    sigaction(SIGTERM, &sa, NULL);
    setsid();
    pid_t root = getpid();
    pid_t a = fork();
    if (a == 0) {
        setpgid(0, 0);
        pid_t self = getpid();
        pid_t g = fork();
        if (g == 0) {
            run("grandchild", 3, self, self, root, 0);
            _exit(fixture_failures ? 1 : 0);
        }
        run("child", 2, root, self, root, 1);
        _exit(fixture_failures ? 1 : 0);
    }
    pid_t z = fork();
    if (z == 0) _exit(7);
    usleep(300000);  /* Z has exited, A and G are waiting */
    ready();
    int seven = run("root", 1, -1, root, root, 1);
    if (seven != 1) fail("root: the zombie's exit status 7 was not reaped (%d)", seven);
    return finish();
}
