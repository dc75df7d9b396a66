/* Sessions whose leader is gone (as zdtm session02 builds them): this
 * process forks A; A calls setsid and forks B and C with CLONE_PARENT
 * (children of this process, in A's session and group); B forks D and then
 * calls setsid, so D stays in B's earlier session (A's); A exits and is
 * reaped. After restart (original PIDs, sessions and groups): C and D in
 * A's session and group, B leading its own, D still B's child, and this
 * process with exactly B and C as children (no holder of the restorer's).
 * Usage: orphansession */
#define _GNU_SOURCE
#include "fixture.h"
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static pid_t clone_parent(void) { return (pid_t)syscall(SYS_clone, CLONE_PARENT, 0, 0, 0, 0); }

static void expect(const char *who, pid_t pid, int ppid, int pgrp, int sid) {
    int p = -1, g = -1, s = -1;
    if (stat_ids(pid, &p, &g, &s) != 0) { fail("%s (%d) is gone", who, pid); return; }
    if (p != ppid || g != pgrp || s != sid)
        fail("%s (%d): parent %d, group %d, session %d; want %d, %d, %d", who, pid, p, g, s, ppid, pgrp, sid);
}

int main(void) {
    handle_term();
    int pids[2];
    if (pipe(pids) != 0) { fail("pipe"); return finish(); }
    pid_t a = fork();
    if (a == 0) {
        if (setsid() < 0) _exit(1);
        /* B's own fork first, then its setsid: D keeps A's session. */
        int ready_pipe[2];
        if (pipe(ready_pipe) != 0) _exit(1);
        pid_t b = clone_parent();
        if (b == 0) {
            pid_t d = fork();
            if (d == 0) { for (;;) pause(); }
            setsid();
            if (write(ready_pipe[1], &d, sizeof d) != sizeof d) _exit(1);
            for (;;) pause();
        }
        pid_t c = clone_parent();
        if (c == 0) { for (;;) pause(); }
        pid_t d = 0;
        if (read(ready_pipe[0], &d, sizeof d) != sizeof d) _exit(1);
        pid_t all[3] = { b, c, d };
        if (write(pids[1], all, sizeof all) != sizeof all) _exit(1);
        _exit(0);
    }
    pid_t all[3];
    if (read(pids[0], all, sizeof all) != sizeof all) { fail("read"); return finish(); }
    waitpid(a, NULL, 0);
    pid_t me = getpid(), b = all[0], c = all[1], d = all[2];
    expect("B before", b, me, b, b);
    expect("C before", c, me, a, a);
    expect("D before", d, b, a, a);

    ready();
    wait_for_term();

    expect("B", b, me, b, b);
    expect("C", c, me, a, a);
    expect("D", d, b, a, a);
    kill(d, SIGKILL);
    kill(b, SIGKILL);
    kill(c, SIGKILL);
    int status = 0, reaped = 0;
    pid_t got;
    while ((got = waitpid(-1, &status, 0)) > 0) {
        if (got != b && got != c) fail("reaped %d, not one of B (%d) and C (%d)", got, b, c);
        reaped++;
    }
    if (reaped != 2) fail("%d children reaped, want 2", reaped);
    return finish();
}
