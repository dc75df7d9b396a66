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
 *    and exits: zombies in a session and a group of their own;
 *  - G, which forks C, then calls setsid and forks S with CLONE_PARENT: C
 *    stays in R's session, though S, made before it (R's child), needs G's
 *    new one; C shares pages with G, which G wrote its own copy of since.
 * "unjoinable" adds K, which forks M; M calls setsid and forks U; U forks V
 * and T and exits, and R (a subreaper) inherits both: R's children in M's
 * session, where no child of R is. T runs sleep (exec: no page shared with
 * R), and comes back in M's session (a holder under M makes it, and R
 * inherits it again). V shares pages with R (M writes its own copy of them
 * after forking U): it comes back in M's session the same way, with R's
 * bytes in those pages, not the holder's (M's), and U's in its own.
 * It also adds H, a subreaper for a while: H forks J, J forks N, N calls
 * setsid and forks U2, U2 forks A and exits, and H inherits A, then stops
 * being a subreaper. A is H's child in N's session, where no child of H is,
 * and H is no subreaper in the image: after the restart A is there again,
 * and H must not take orphans (N goes to R when J is killed).
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

struct tree { pid_t r, l, p, q, z, b, x, e, m, v, t, g, c, s, h, n, a; };

/* Each process's parent, group and session, before the checkpoint and
 * after the restart. E is in R's group and session, whichever they are (a
 * shell's outside the image are not restored: R gets cr_restart's, and E
 * with it). */
static void expect_tree(const struct tree *t, int restarted) {
    expect(restarted ? "L" : "L before", t->l, t->r, t->l, t->l);
    expect(restarted ? "P" : "P before", t->p, t->r, t->l, t->l);
    expect(restarted ? "Q" : "Q before", t->q, t->r, t->z, t->z);
    expect(restarted ? "B" : "B before", t->b, t->r, t->b, t->b);
    expect(restarted ? "X" : "X before", t->x, t->b, t->x, t->x);
    expect(restarted ? "E" : "E before", t->e, t->b, getpgrp(), getsid(0));
    expect(restarted ? "G" : "G before", t->g, t->r, t->g, t->g);
    expect(restarted ? "C" : "C before", t->c, t->g, getpgrp(), getsid(0));
    expect(restarted ? "S" : "S before", t->s, t->r, t->g, t->g);
    if (t->v > 0) expect(restarted ? "V" : "V before", t->v, t->r, t->m, t->m);
    if (t->t > 0) expect(restarted ? "T" : "T before", t->t, t->r, t->m, t->m);
    if (t->a > 0) expect(restarted ? "A" : "A before", t->a, t->h, t->n, t->n);
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
        while (getsid(x) != x) usleep(1000);  /* R checks X's session as soon as it hears of it */
        mark('b');
        pid_t e = fork();
        if (e == 0) sleep_forever();
        if (setsid() < 0) _exit(1);
        send(ids[1], x);
        send(ids[1], e);
        sleep_forever();
    }
    pid_t x = receive(ids[0]), e = receive(ids[0]);

    pid_t g = fork();
    if (g == 0) {
        mark('g');
        pid_t c = fork();
        if (c == 0) sleep_forever();
        send(ids[1], c);
        if (setsid() < 0) _exit(1);
        mark('s');
        pid_t s = clone_parent();
        if (s == 0) sleep_forever();
        send(ids[1], s);
        sleep_forever();
    }
    pid_t c = receive(ids[0]), s = receive(ids[0]);

    pid_t k = 0, m = 0, v = 0, tt = 0, h = 0, j = 0, n = 0, a = 0;
    if (unjoinable) {
        k = fork();
        if (k == 0) {
            pid_t mm = fork();
            if (mm == 0) {
                if (setsid() < 0) _exit(1);
                pid_t u = fork();
                if (u == 0) {
                    mark('u');
                    pid_t vv = fork();
                    if (vv == 0) sleep_forever();
                    pid_t tt = fork();
                    if (tt == 0) { execl("/bin/sleep", "sleep", "1000", (char *)NULL); _exit(1); }
                    send(ids[1], vv);
                    send(ids[1], tt);
                    _exit(0);
                }
                memset(shared, 'm', sizeof shared);  /* M's own copy: what a holder forked from M would pass on */
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
        int hp[2];
        if (pipe(hp) != 0) { fail("pipe"); return finish(); }
        h = fork();
        if (h == 0) {
            if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) _exit(1);
            pid_t jj = fork();
            if (jj == 0) {
                pid_t nn = fork();
                if (nn == 0) {
                    if (setsid() < 0) _exit(1);
                    pid_t u = fork();
                    if (u == 0) {
                        pid_t aa = fork();
                        if (aa == 0) sleep_forever();
                        send(hp[1], aa);
                        _exit(0);
                    }
                    waitpid(u, NULL, 0);
                    sleep_forever();
                }
                send(hp[1], nn);
                sleep_forever();
            }
            pid_t nn = receive(hp[0]), aa = receive(hp[0]);
            for (int i = 0; i < 500; i++) {  /* until A is handed to H */
                int pp = -1, g, s;
                if (stat_ids(aa, &pp, &g, &s) == 0 && pp == getpid()) break;
                usleep(2000);
            }
            if (prctl(PR_SET_CHILD_SUBREAPER, 0) != 0) _exit(1);
            send(ids[1], jj);
            send(ids[1], nn);
            send(ids[1], aa);
            sleep_forever();
        }
        j = receive(ids[0]);
        n = receive(ids[0]);
        a = receive(ids[0]);
    }

    struct tree t = { me, l, p, q, z, b, x, e, m, v, tt, g, c, s, h, n, a };
    expect_tree(&t, 0);
    ready();
    wait_for_term();
    expect_tree(&t, 1);
    expect_memory("P", p, 'l');
    expect_memory("Q", q, 'z');
    expect_memory("E", e, 'b');
    expect_memory("C", c, 'g');
    expect_memory("S", s, 's');
    if (v > 0) expect_memory("V", v, 'u');
    if (a > 0) expect_memory("A", a, 'r');
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

    if (j > 0) {  /* H takes no orphans now: N goes to R */
        kill(j, SIGKILL);
        int pp = -1, g, s;
        for (int i = 0; i < 500 && !(stat_ids(n, &pp, &g, &s) == 0 && pp == me); i++) usleep(2000);
        if (pp != me) fail("N (%d): parent %d once J is gone, want R (%d): H is a subreaper again", n, pp, me);
    }
    /* Grandchildren first: as a subreaper R inherits them when their parents go. */
    pid_t all[] = { x, e, m, c, l, p, q, b, k, v, tt, g, s, a, n, j, h };
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
    /* Unjoinable: X, E, M, C, J, N and A come to R (a subreaper) as B, K, G and H go. */
    int want = unjoinable ? 20 : 9;
    if (reaped != want) fail("%d children reaped, want %d", reaped, want);
    for (unsigned i = 0; i < 3; i++)
        if (!WIFEXITED(zombie_status[i]) || WEXITSTATUS(zombie_status[i]) != (int[]){ 0, 3, 4 }[i])
            fail("zombie %d's status %#x, want exit %d", zombies[i], zombie_status[i], (int[]){ 0, 3, 4 }[i]);
    return finish();
}
