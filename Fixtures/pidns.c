/* A PID namespace checkpointed whole (cr_checkpoint --tree of its init).
 * The fixture's first process makes the namespace (as a user, with a user
 * namespace mapping its uid and gid to themselves) and forks its init, whose
 * PID it prints; it then waits for that init and dies the way it died.
 * Inside, init (PID 1, a session and group leader) has: a group of two,
 * an orphan reparented to it, a session with a group inside, a session
 * whose leader stays, with two orphans of it that init inherited (one in a
 * group whose leader is gone) and a child
 * its parent left there when it took a session of its own, a zombie, a
 * process with threads, and 1-6 seeded extra processes that join init's
 * group, lead a group, lead a session, join the first group, take a
 * session after forking a child, or leave an orphan in a session whose
 * leader is gone (zdtm session00's cases). Every
 * process records the IDs it has in there; after the restart, SIGTERM to
 * init reaches all (kill -1), each checks its IDs, and init checks their
 * exit codes (the zombie's is 7) and prints PASS.
 * With "proc", the namespace has a mount namespace too, with a /proc of its
 * own (unshare --pid --mount-proc, a container's): after the restart that
 * /proc must still show this namespace (itself as PID 1).
 * usage: pidns [SEED] [proc] */
#include "fixture.h"
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int setup_fd = -1;
static int own_proc;

/* /proc shows this PID namespace: "self" is 1 for init, and 1 is us. */
static void proc_is_ours(const char *when) {
    char self[32] = "";
    if (readlink("/proc/self", self, sizeof self - 1) < 0 || strcmp(self, "1") != 0) fail("%s: /proc/self is '%s', not init's 1", when, self);
}

struct ids { pid_t pid, ppid, pgid, sid; };

static struct ids mine(void) {
    struct ids i = { getpid(), getppid(), getpgrp(), getsid(0) };
    return i;
}

/* Tells init this process is set up. */
static void set_up(void) {
    if (write(setup_fd, "x", 1) != 1) _exit(3);
}

/* Records its IDs, waits for SIGTERM, checks them; returns 0 if they held. */
static int check_after_term(const char *who) {
    struct ids before = mine();
    set_up();
    wait_for_term();
    struct ids now = mine();
    if (memcmp(&before, &now, sizeof now) != 0) {
        fail("%s: pid/ppid/pgid/sid %d/%d/%d/%d, was %d/%d/%d/%d", who, now.pid, now.ppid, now.pgid, now.sid,
             before.pid, before.ppid, before.pgid, before.sid);
        return 1;
    }
    return 0;
}

/* Waits for every child of this process; 1 if one failed. */
static int children_failed(void) {
    int status, failed = 0;
    while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    return failed;
}

static volatile int threads_go;
static pid_t thread_ids[2];
static void *thread_main(void *arg) {
    long k = (long)arg;
    leave_term_to_main();
    thread_ids[k] = (pid_t)syscall(SYS_gettid);
    while (!threads_go) usleep(1000);
    return (void *)(long)(syscall(SYS_gettid) != thread_ids[k]);
}

static int threaded(void) {
    pthread_t t[2];
    for (long k = 0; k < 2; k++) pthread_create(&t[k], NULL, thread_main, (void *)k);
    while (!thread_ids[0] || !thread_ids[1]) usleep(1000);
    int failed = check_after_term("threaded");
    threads_go = 1;
    for (int k = 0; k < 2; k++) {
        void *r;
        pthread_join(t[k], &r);
        if (r) { fail("thread %d: gettid changed from %d", k, thread_ids[k]); failed = 1; }
    }
    return failed;
}

/* Leads a session: an orphan of it goes to init, and a child stays in it
 * when its own parent takes a session after forking it. */
static int leader_of_a_session(void) {
    setsid();
    /* The second orphan is in a group its gone parent led (zdtm sk-unix-restore-fs-share). */
    for (int own_group = 0; own_group < 2; own_group++) {
        pid_t middle = fork();
        if (middle == 0) {
            if (own_group) setpgid(0, 0);
            if (fork() == 0) {
                for (int k = 0; k < 5000 && getppid() != 1; k++) usleep(1000);
                _exit(check_after_term(own_group ? "orphan of a live session, in a gone group" : "orphan of a live session"));
            }
            _exit(0);
        }
        waitpid(middle, NULL, 0);
    }
    if (fork() == 0) {
        if (fork() == 0) _exit(check_after_term("child left in its parent's earlier session"));
        setsid();
        int failed = check_after_term("parent that took a session after its child");
        _exit(failed | children_failed());
    }
    int failed = check_after_term("leader of a session with an orphan");
    return failed | children_failed();
}

static int run_init(int ready_fd, unsigned seed) {
    if (getpid() != 1) { fail("init is PID %d in its namespace", getpid()); return 1; }
    if (own_proc) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) || mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
            fail("mounting a /proc of the namespace: %m");
            return 1;
        }
        proc_is_ours("before");
    }
    setsid();
    handle_term();
    int setup[2];
    if (pipe(setup)) { fail("pipe: %m"); return 1; }
    setup_fd = setup[1];
    int expected = 0;
    pid_t pid;

    /* A group of two. */
    pid_t group = fork();
    if (group == 0) {
        setpgid(0, 0);
        if (fork() == 0) _exit(check_after_term("group member"));
        int failed = check_after_term("group leader");
        _exit(failed | children_failed());
    }
    setpgid(group, group);  /* so the extras below may join it at once */
    expected += 2;

    /* An orphan: its parent exits, init inherits it. */
    pid_t parent = fork();
    if (parent == 0) {
        if (fork() == 0) {
            for (int k = 0; k < 5000 && getppid() != 1; k++) usleep(1000);
            _exit(check_after_term("orphan"));
        }
        _exit(0);
    }
    waitpid(parent, NULL, 0);
    expected += 1;

    /* A session with a group of two inside. */
    if (fork() == 0) {
        setsid();
        pid_t g = fork();
        if (g == 0) {
            setpgid(0, 0);
            if (fork() == 0) _exit(check_after_term("session group member"));
            int failed = check_after_term("session group leader");
            _exit(failed | children_failed());
        }
        setpgid(g, g);
        int failed = check_after_term("session leader");
        _exit(failed | children_failed());
    }
    expected += 3;

    /* A session whose leader stays: an orphan of it that init inherited, and
     * a child left in it when its parent took a session of its own. The
     * leader is init's grandchild (the orphan, init's child, must still be
     * made after it: zdtm child_subreaper_and_reparent). */
    if (fork() == 0) {
        if (fork() == 0) _exit(leader_of_a_session());
        int failed = check_after_term("parent of a session leader");
        _exit(failed | children_failed());
    }
    expected += 6;

    /* A zombie: init does not reap it before the checkpoint. */
    pid_t zombie = fork();
    if (zombie == 0) _exit(7);

    if (fork() == 0) _exit(threaded());
    expected += 1;

    srand(seed);
    int extras = 1 + rand() % 6;
    for (int k = 0; k < extras; k++) {
        int how = rand() % 6;
        char who[32];
        snprintf(who, sizeof who, "extra %d (%d)", k, how);
        pid_t extra = fork();
        if (extra == 0) {
            if (how == 1) setpgid(0, 0);
            if (how == 2) setsid();
            if (how == 3) setpgid(0, group);
            if (how == 4) {
                /* Its child stays in init's session. */
                if (fork() == 0) _exit(check_after_term("child of an extra"));
                setsid();
                int failed = check_after_term(who);
                _exit(failed | children_failed());
            }
            if (how == 5) {
                /* It leads a session and leaves it: its child, an orphan, stays in it. */
                setsid();
                if (fork() == 0) {
                    for (int j = 0; j < 5000 && getppid() != 1; j++) usleep(1000);
                    _exit(check_after_term("orphan of a gone session"));
                }
                _exit(0);
            }
            _exit(check_after_term(who));
        }
        expected += how == 4 ? 2 : 1;
        if (how == 5) waitpid(extra, NULL, 0);
    }
    for (int got = 0; got < expected;) {
        char c;
        if (read(setup[0], &c, 1) != 1) { fail("setup pipe: %m"); return 1; }
        got++;
    }
    siginfo_t info;
    memset(&info, 0, sizeof info);
    for (int k = 0; k < 5000 && info.si_pid != zombie; k++) {
        waitid(P_PID, zombie, &info, WEXITED | WNOWAIT | WNOHANG);
        if (info.si_pid != zombie) usleep(1000);
    }
    if (write(ready_fd, "R", 1) != 1) return 1;
    close(ready_fd);

    struct ids before = mine();
    wait_for_term();
    struct ids now = mine();
    if (now.pid != 1) {
        /* Not in a namespace of its own: kill(-1) would reach every process of the machine. */
        fail("init is PID %d after the restart, not 1 (its processes are left waiting)", now.pid);
        return finish();
    }
    if (memcmp(&before, &now, sizeof now) != 0) fail("init: pid/pgid/sid %d/%d/%d", now.pid, now.pgid, now.sid);
    if (own_proc) proc_is_ours("after the restart");
    kill(-1, SIGTERM);  /* every other process of the namespace */
    int status, others = 0;
    for (;;) {
        pid = wait(&status);
        if (pid < 0) break;
        if (pid == zombie) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 7) fail("zombie %d: status 0x%x, not exit 7", pid, status);
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fail("process %d: status 0x%x", pid, status);
        } else {
            others++;
        }
    }
    printf("init reaped %d processes and the zombie\n", others);
    return finish();
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    own_proc = argc > 2 && strcmp(argv[2], "proc") == 0;
    if (unshare_as_self(CLONE_NEWPID | (own_proc ? CLONE_NEWNS : 0))) return 1;
    int ready[2];
    if (pipe(ready)) return 1;
    fflush(stdout);
    pid_t init = fork();
    if (init == 0) {
        close(ready[0]);
        exit(run_init(ready[1], seed));
    }
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1) { printf("FAIL: init did not get ready\n"); return 1; }
    printf("READY %d\n", init);
    fflush(stdout);
    int status;
    if (waitpid(init, &status, 0) < 0) return 1;
    if (WIFSIGNALED(status)) {
        signal(WTERMSIG(status), SIG_DFL);
        raise(WTERMSIG(status));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
