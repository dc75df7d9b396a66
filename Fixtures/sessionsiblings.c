/* Session members whose parent is in another session (as zdtm session03's
 * random trees make them). This process (R) forks, each sharing its pages
 * copy-on-write:
 *  - L, which calls setsid and forks P with CLONE_PARENT: P is R's child in
 *    L's session and group, L alive (a sibling of P is in that session);
 *  - Z, which does the same with Q and exits unreaped: Q is R's child in the
 *    session and group of a zombie;
 *  - B, which forks X (X calls setsid), then E, then calls setsid itself: E
 *    stays in B's earlier session (R's) though X, a child made before it,
 *    needs no session of B's;
 *  - Y, which calls setsid and exits, and W, which leads a group of its own
 *    and exits: zombies in a session and a group of their own.
 * "unjoinable" adds K, which forks M; M calls setsid and forks U; U forks V
 * and T and exits, and R (a subreaper) inherits both: R's children in M's
 * session, where no child of R is. T runs sleep (exec: no page shared with
 * R), and comes back in M's session (a holder under M makes it, and R
 * inherits it again). V shares pages with R: its restart warns and leaves
 * it in R's session.
 * After restart (original PIDs, sessions and groups) each must be where it
 * was, Z, Y and W still zombies that exited with 0, 3 and 4, and R's
 * children exactly these.
 * Usage: sessionsiblings [unjoinable] */
#define _GNU_SOURCE
#include "fixture.h"
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

static pid_t clone_parent(void) { return (pid_t)syscall(SYS_clone, CLONE_PARENT, 0, 0, 0, 0); }

/* R fills both before forking; a process that forks one of these children
 * marks `own` first: the child's `shared` pages are R's (copy-on-write), its
 * `own` its forker's, and each must come back so. */
static char shared[3 * 4096], own[3 * 4096];

static void mark(char c) { memset(own, c, sizeof own); }

static void expect_memory(const char *who, pid_t pid, char own_mark) {
    char a[sizeof shared], b[sizeof own];
    struct iovec local[2] = { { a, sizeof a }, { b, sizeof b } }, remote[2] = { { shared, sizeof shared }, { own, sizeof own } };
    if (process_vm_readv(pid, local, 2, remote, 2, 0) != (ssize_t)(sizeof a + sizeof b)) { fail("%s: process_vm_readv", who); return; }
    for (size_t i = 0; i < sizeof a; i++) if (a[i] != 'r') { fail("%s: shared byte %zu is %d, want 'r'", who, i, a[i]); return; }
    for (size_t i = 0; i < sizeof b; i++) if (b[i] != own_mark) { fail("%s: own byte %zu is %d, want '%c'", who, i, b[i], own_mark); return; }
}

static void expect(const char *who, pid_t pid, int ppid, int pgrp, int sid) {
    int p = -1, g = -1, s = -1;
    if (stat_ids(pid, &p, &g, &s) != 0) { fail("%s (%d) is gone", who, pid); return; }
    if (p != ppid || g != pgrp || s != sid)
        fail("%s (%d): parent %d, group %d, session %d; want %d, %d, %d", who, pid, p, g, s, ppid, pgrp, sid);
}

static void sleep_forever(void) { for (;;) pause(); }

static void send(int fd, pid_t pid) { if (write(fd, &pid, sizeof pid) != sizeof pid) _exit(1); }
static pid_t receive(int fd) { pid_t pid = 0; if (read(fd, &pid, sizeof pid) != sizeof pid) fail("read"); return pid; }

struct tree { pid_t r, l, p, q, z, b, x, e, m, v, t; };

/* Each process's parent, group and session, before the checkpoint and
 * after the restart. E is in R's group and session, whichever they are (a
 * shell's outside the image are not restored: R gets cr_restart's, and E
 * with it). V (unjoinable) comes back in R's (documented). */
static void expect_tree(const struct tree *t, int restarted) {
    expect(restarted ? "L" : "L before", t->l, t->r, t->l, t->l);
    expect(restarted ? "P" : "P before", t->p, t->r, t->l, t->l);
    expect(restarted ? "Q" : "Q before", t->q, t->r, t->z, t->z);
    expect(restarted ? "B" : "B before", t->b, t->r, t->b, t->b);
    expect(restarted ? "X" : "X before", t->x, t->b, t->x, t->x);
    expect(restarted ? "E" : "E before", t->e, t->b, getpgrp(), getsid(0));
    if (t->v > 0) expect(restarted ? "V" : "V before", t->v, t->r, restarted ? getpgrp() : t->m, restarted ? getsid(0) : t->m);
    if (t->t > 0) expect(restarted ? "T" : "T before", t->t, t->r, t->m, t->m);
}

/* A child of R that calls setsid, marks its `own` pages and forks a member
 * of its session with CLONE_PARENT (R's child, in *member), then sleeps or,
 * if `exits`, exits unreaped. */
static pid_t leader_with_member(int ids[2], char own_mark, int exits, pid_t *member) {
    pid_t leader = fork();
    if (leader == 0) {
        if (setsid() < 0) _exit(1);
        mark(own_mark);
        pid_t m = clone_parent();
        if (m == 0) sleep_forever();
        send(ids[1], m);
        if (exits) _exit(0);
        sleep_forever();
    }
    *member = receive(ids[0]);
    return leader;
}

int main(int argc, char **argv) {
    int unjoinable = argc > 1 && strcmp(argv[1], "unjoinable") == 0;
    handle_term();
    if (unjoinable && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) { fail("PR_SET_CHILD_SUBREAPER"); return finish(); }
    int ids[2];
    if (pipe(ids) != 0) { fail("pipe"); return finish(); }
    pid_t me = getpid();
    memset(shared, 'r', sizeof shared);
    mark('r');

    pid_t p, q;
    pid_t l = leader_with_member(ids, 'l', 0, &p);
    pid_t z = leader_with_member(ids, 'z', 1, &q);
    /* Z's end, seen without reaping it. */
    siginfo_t info;
    if (waitid(P_PID, z, &info, WEXITED | WNOWAIT) != 0) fail("waitid Z");

    /* Zombies that led a session of their own, and a group. */
    pid_t y = fork();
    if (y == 0) { setsid(); _exit(3); }
    pid_t w = fork();
    if (w == 0) { setpgid(0, 0); _exit(4); }
    if (waitid(P_PID, y, &info, WEXITED | WNOWAIT) != 0 || waitid(P_PID, w, &info, WEXITED | WNOWAIT) != 0) fail("waitid Y, W");

    pid_t b = fork();
    if (b == 0) {
        pid_t x = fork();
        if (x == 0) { setsid(); sleep_forever(); }
        mark('b');
        pid_t e = fork();
        if (e == 0) sleep_forever();
        if (setsid() < 0) _exit(1);
        send(ids[1], x);
        send(ids[1], e);
        sleep_forever();
    }
    pid_t x = receive(ids[0]), e = receive(ids[0]);

    pid_t k = 0, m = 0, v = 0, tt = 0;
    if (unjoinable) {
        k = fork();
        if (k == 0) {
            pid_t mm = fork();
            if (mm == 0) {
                if (setsid() < 0) _exit(1);
                pid_t u = fork();
                if (u == 0) {
                    pid_t vv = fork();
                    if (vv == 0) sleep_forever();
                    pid_t tt = fork();
                    if (tt == 0) { execl("/bin/sleep", "sleep", "1000", (char *)NULL); _exit(1); }
                    send(ids[1], vv);
                    send(ids[1], tt);
                    _exit(0);
                }
                waitpid(u, NULL, 0);
                sleep_forever();
            }
            send(ids[1], mm);
            sleep_forever();
        }
        m = receive(ids[0]);
        v = receive(ids[0]);
        tt = receive(ids[0]);
        for (int i = 0; i < 500; i++) {  /* until V and T are handed to R, and T runs sleep */
            int pp = -1, pt = -1, g, s;
            char exe[64] = "", path[64];
            snprintf(path, sizeof path, "/proc/%d/exe", tt);
            ssize_t n = readlink(path, exe, sizeof exe - 1);
            if (n > 0) exe[n] = 0;
            if (stat_ids(v, &pp, &g, &s) == 0 && pp == me && stat_ids(tt, &pt, &g, &s) == 0 && pt == me && strstr(exe, "sleep")) break;
            usleep(2000);
        }
    }

    struct tree t = { me, l, p, q, z, b, x, e, m, v, tt };
    expect_tree(&t, 0);
    ready();
    wait_for_term();
    expect_tree(&t, 1);
    expect_memory("P", p, 'l');
    expect_memory("Q", q, 'z');
    expect_memory("E", e, 'b');
    pid_t zombies[] = { z, y, w };
    for (unsigned i = 0; i < 3; i++) {
        char state = 0;
        char path[64], text[512];
        snprintf(path, sizeof path, "/proc/%d/stat", zombies[i]);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(text, sizeof text, f)) fail("zombie %d is gone", zombies[i]);
        else { char *close = strrchr(text, ')'); if (close) state = close[2]; }
        if (f) fclose(f);
        if (state != 'Z') fail("zombie %d is in state %c", zombies[i], state ? state : '?');
    }
    expect("Y", y, me, y, y);
    expect("W", w, me, w, getsid(0));

    /* Grandchildren first: as a subreaper R inherits them when their parents go. */
    pid_t all[] = { x, e, m, l, p, q, b, k, v, tt };
    for (unsigned i = 0; i < sizeof all / sizeof all[0]; i++) if (all[i] > 0) kill(all[i], SIGKILL);
    int status = 0, reaped = 0, zombie_status[3] = { -1, -1, -1 };
    pid_t got;
    while ((got = waitpid(-1, &status, 0)) > 0) {
        int known = 0;
        for (unsigned i = 0; i < sizeof all / sizeof all[0]; i++) known |= all[i] > 0 && got == all[i];
        for (unsigned i = 0; i < 3; i++) if (got == zombies[i]) { known = 1; zombie_status[i] = status; }
        if (!known) fail("reaped %d, not a child of this process's", got);
        reaped++;
    }
    /* Unjoinable: X, E and M come to R (a subreaper) as B and K go. */
    int want = unjoinable ? 13 : 7;
    if (reaped != want) fail("%d children reaped, want %d", reaped, want);
    for (unsigned i = 0; i < 3; i++)
        if (!WIFEXITED(zombie_status[i]) || WEXITSTATUS(zombie_status[i]) != (int[]){ 0, 3, 4 }[i])
            fail("zombie %d's status %#x, want exit %d", zombies[i], zombie_status[i], (int[]){ 0, 3, 4 }[i]);
    return finish();
}
