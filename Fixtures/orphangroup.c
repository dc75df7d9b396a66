/* Process groups whose leader is gone: A leads a group, forks B (alive)
 * and C (exits, left unreaped) as children of this process
 * (CLONE_PARENT), then A exits and is reaped. After restart (with original
 * PIDs and groups) B and the zombie C are still in A's group, and this
 * process has exactly those two children (nothing of the restorer's).
 * Usage: orphangroup */
#define _GNU_SOURCE
#include "fixture.h"
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static pid_t clone_parent(void) { return (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0); }

static pid_t group_of(pid_t pid) {
    int ppid, pgrp = -1, sid;
    return stat_ids(pid, &ppid, &pgrp, &sid) == 0 ? pgrp : -1;
}

int main(void) {
    handle_term();
    int pids[2];
    if (pipe(pids) != 0) { fail("pipe"); return finish(); }
    pid_t a = fork();
    if (a == 0) {
        setpgid(0, 0);
        pid_t b = clone_parent();
        if (b == 0) { pause(); _exit(0); }
        pid_t c = clone_parent();
        if (c == 0) _exit(3);
        pid_t both[2] = { b, c };
        write(pids[1], both, sizeof both);
        _exit(0);
    }
    pid_t both[2];
    if (read(pids[0], both, sizeof both) != sizeof both) { fail("read"); return finish(); }
    waitpid(a, NULL, 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    waitid(P_PID, both[1], &si, WEXITED | WNOWAIT);  /* C has exited: a zombie now */

    ready();
    wait_for_term();

    if (group_of(both[0]) != a) fail("the live child is in group %d, want %d", group_of(both[0]), a);
    if (group_of(both[1]) != a) fail("the zombie is in group %d, want %d", group_of(both[1]), a);
    int status = 0;
    pid_t got = waitpid(-1, &status, WNOHANG);
    if (got != both[1] || !WIFEXITED(status) || WEXITSTATUS(status) != 3) fail("the first child to reap is %d (status %x), want the zombie %d", got, status, both[1]);
    kill(both[0], SIGKILL);
    got = waitpid(-1, &status, 0);
    if (got != both[0]) fail("then %d, want %d", got, both[0]);
    if (waitpid(-1, &status, WNOHANG) != -1 || errno != ECHILD) fail("a child of the restorer's is left");
    return finish();
}
